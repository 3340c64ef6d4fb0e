export { createEmailChannel, noticeMessageId, type EmailChannelOptions } from './email.channel.ts';
export {
  escapeHtml,
  noticeSubject,
  renderNoticeEmail,
  type RenderedEmail,
} from './email.template.ts';
export {
  createNoticeBatcher,
  DEFAULT_MAX_WAIT_MS,
  DEFAULT_QUIET_MS,
  type BatchCloseReason,
  type NoticeBatch,
  type NoticeBatcher,
  type NoticeBatcherOptions,
  type PendingBatch,
} from './notice.batcher.ts';
export {
  createNotifyDispatcher,
  DEFAULT_RETRY_DELAYS_MS,
  type DeliveryFailure,
  type NotifyDispatcher,
  type NotifyDispatcherOptions,
  type RetryPolicy,
} from './notify.dispatcher.ts';
export type {
  AttemptLog,
  Channel,
  ChannelName,
  DeliveryAttempt,
  NoticeParcel,
  ParcelLocation,
  ParcelLocationKind,
  ParcelNotice,
} from './notify.types.ts';
export {
  buildWebhookPayload,
  createWebhookChannel,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  signWebhook,
  verifyWebhookSignature,
  WEBHOOK_EVENT,
  type WebhookChannelOptions,
  type WebhookPayload,
} from './webhook.channel.ts';

import QRCode from 'qrcode';

/**
 * The pickup QR code as a PNG. Error correction M and a 4-module quiet zone: it survives a
 * cracked phone screen and a cheap kiosk scanner, and a kiosk URL with a 24-character token
 * stays a small symbol (version 4-5), readable at 200 px.
 */
export function qrPng(text: string): Promise<Buffer> {
  return QRCode.toBuffer(text, { type: 'png', errorCorrectionLevel: 'M', margin: 4, width: 240 });
}

/** The same image as a data: URL, for the link page the resident opens in a browser. */
export function qrDataUrl(text: string): Promise<string> {
  return QRCode.toDataURL(text, { errorCorrectionLevel: 'M', margin: 4, width: 240 });
}

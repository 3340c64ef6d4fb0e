/**
 * A camera stand-in on real RTSP, for tests that take a camera's stream away and give it back:
 * a small RTSP server on 127.0.0.1 answers OPTIONS/DESCRIBE/SETUP/PLAY and forwards, interleaved
 * over the TCP connection, the RTP packets a real ffmpeg packetises from an H.264 file
 * (`-re -stream_loop -1 -c copy -f rtp`). The recorder's ffmpeg sees a camera: SDP with the
 * parameter sets, joined mid-GOP, RTP timestamps from a random base.
 *
 * ffmpeg cannot serve RTSP to a player itself (its `-rtsp_flags listen` receives a pushed
 * stream), hence the server here. `stop()` drops every connection at once, as a camera losing
 * power does; starting another on the same port is the camera coming back.
 *
 * Used by test/integration/recording.test.ts and the fault tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 50 ms until it holds; throw naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface TestCamera {
  /** `rtsp://127.0.0.1:<port>/live` */
  url: string;
  /** Drop every player and stop sending. */
  stop(): Promise<void>;
}

/** Serve `file` (H.264, no B-frames) as an RTSP camera on 127.0.0.1:`port`; `dir` holds its SDP. */
export async function startTestCamera(
  ffmpegPath: string,
  file: string,
  port: number,
  dir: string,
): Promise<TestCamera> {
  const udp = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(0, '127.0.0.1', () => resolve());
  });
  const udpPort = udp.address().port;
  const sdpPath = join(dir, `camera-${udpPort}.sdp`);
  const sender: ChildProcess = spawn(
    ffmpegPath,
    [
      ...[
        '-hide_banner',
        '-nostdin',
        '-loglevel',
        'error',
        '-re',
        '-stream_loop',
        '-1',
        '-i',
        file,
      ],
      ...['-map', '0:v', '-c', 'copy', '-f', 'rtp', '-sdp_file', sdpPath],
      `rtp://127.0.0.1:${udpPort}?pkt_size=1200`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let senderLog = '';
  sender.stderr?.on('data', (d) => (senderLog += String(d)));
  const senderGone = new Promise<void>((resolve) => sender.once('close', () => resolve()));
  const players = new Set<Socket>();
  udp.on('message', (packet) => {
    const head = Buffer.from([0x24, 0, packet.length >> 8, packet.length & 0xff]);
    for (const p of players) p.write(Buffer.concat([head, packet]));
  });
  await waitFor(
    `the RTP sender's SDP (${senderLog})`,
    () => existsSync(sdpPath) && readFileSync(sdpPath, 'utf8').includes('a=rtpmap'),
    10_000,
  );
  const sdp = readFileSync(sdpPath, 'utf8')
    .replace(/c=IN IP4 [\d.]+/, 'c=IN IP4 0.0.0.0')
    .replace(/m=video \d+/, 'm=video 0')
    .trimEnd()
    .concat('\r\na=control:trackID=0\r\n');

  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    let buf = Buffer.alloc(0);
    const answer = (cseq: string, extra: string[], body = '') => {
      const head = [
        'RTSP/1.0 200 OK',
        `CSeq: ${cseq}`,
        ...extra,
        `Content-Length: ${Buffer.byteLength(body)}`,
      ];
      sock.write(`${head.join('\r\n')}\r\n\r\n${body}`);
    };
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (buf.length > 0 && buf[0] === 0x24) {
          // Interleaved RTCP from the player: skip it.
          if (buf.length < 4) return;
          const len = 4 + buf.readUInt16BE(2);
          if (buf.length < len) return;
          buf = buf.subarray(len);
          continue;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers = new Map(
          lines
            .slice(1)
            .map((l) => [
              l.slice(0, l.indexOf(':')).toLowerCase(),
              l.slice(l.indexOf(':') + 1).trim(),
            ]),
        );
        const bodyLen = Number(headers.get('content-length') ?? 0);
        if (buf.length < end + 4 + bodyLen) return;
        buf = buf.subarray(end + 4 + bodyLen);
        const [method, url] = lines[0]!.split(' ');
        const cseq = headers.get('cseq') ?? '0';
        switch (method) {
          case 'OPTIONS':
            answer(cseq, ['Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER']);
            break;
          case 'DESCRIBE':
            answer(cseq, ['Content-Type: application/sdp', `Content-Base: ${url}/`], sdp);
            break;
          case 'SETUP':
            answer(cseq, [
              'Transport: RTP/AVP/TCP;unicast;interleaved=0-1',
              'Session: 4711;timeout=60',
            ]);
            break;
          case 'PLAY':
            answer(cseq, ['Session: 4711', 'Range: npt=0.000-']);
            players.add(sock);
            break;
          case 'TEARDOWN':
            answer(cseq, ['Session: 4711']);
            players.delete(sock);
            sock.end();
            break;
          default:
            answer(cseq, ['Session: 4711']);
        }
      }
    });
    const forget = () => {
      players.delete(sock);
      sockets.delete(sock);
    };
    sock.on('close', forget);
    sock.on('error', forget);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `rtsp://127.0.0.1:${port}/live`,
    async stop() {
      sender.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      udp.close();
      await senderGone;
    },
  };
}

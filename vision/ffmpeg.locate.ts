import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

/**
 * Which ffmpeg to run: the system's when present (Debian's is newer and has more codecs), else the
 * static binary shipped inside the `@ffmpeg-installer/ffmpeg` npm package, so `npm install` alone
 * still gives a box that records. The major version matters: an RTSP read needs a socket timeout
 * to notice a dead camera, and that flag is `-timeout` from ffmpeg 5 but `-stimeout` in 4.x, where
 * `-timeout` means "listen" instead.
 */
export interface FfmpegBinary {
  path: string;
  ffprobePath: string | null;
  source: 'system' | 'npm';
  major: number;
  /** The input option that sets an RTSP socket timeout (microseconds). */
  rtspTimeoutFlag: '-timeout' | '-stimeout';
}

function versionOf(path: string): { major: number } | null {
  const out = spawnSync(path, ['-hide_banner', '-version'], { encoding: 'utf8', timeout: 10_000 });
  if (out.status !== 0 || typeof out.stdout !== 'string') return null;
  const m = /ffmpeg version (?:n)?(\d+)\.(\d+)/.exec(out.stdout);
  if (m) return { major: Number(m[1]) };
  // Static git builds print "N-47683-g…" (the npm one is a 2018 snapshot of the 4.x line).
  return /ffmpeg version N-/.test(out.stdout) ? { major: 4 } : null;
}

function systemPath(name: string): string | null {
  const out = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const p = out.status === 0 ? out.stdout.trim() : '';
  return p ? p : null;
}

let cached: FfmpegBinary | null | undefined;

/**
 * Finds ffmpeg once per process. `prefer` forces one source (tests of the npm fallback).
 * Returns null when neither exists; callers show that as a missing part, never crash.
 */
export function locateFfmpeg(prefer?: 'system' | 'npm'): FfmpegBinary | null {
  if (prefer === undefined && cached !== undefined) return cached;
  const candidates: { path: string; source: 'system' | 'npm'; ffprobe: string | null }[] = [];
  const sys = systemPath('ffmpeg');
  if (sys && prefer !== 'npm')
    candidates.push({ path: sys, source: 'system', ffprobe: systemPath('ffprobe') });
  if (prefer !== 'system') {
    try {
      const req = createRequire(import.meta.url);
      const npm = (req('@ffmpeg-installer/ffmpeg') as { path: string }).path;
      candidates.push({ path: npm, source: 'npm', ffprobe: null });
    } catch {
      // not installed: only the system binary can serve
    }
  }
  let found: FfmpegBinary | null = null;
  for (const c of candidates) {
    const v = versionOf(c.path);
    if (!v) continue;
    found = {
      path: c.path,
      ffprobePath: c.ffprobe,
      source: c.source,
      major: v.major,
      rtspTimeoutFlag: v.major >= 5 ? '-timeout' : '-stimeout',
    };
    break;
  }
  if (prefer === undefined) cached = found;
  return found;
}

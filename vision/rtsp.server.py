#!/usr/bin/python3
"""A stand-in IP camera: serves H.264 MP4 files as looping RTSP mounts with Debian's GStreamer.

Started by vision/rtsp.server.ts with /usr/bin/python3 (Debian's gi lives there, not in a
virtualenv's python). Usage:

    rtsp.server.py --host 127.0.0.1 --port 0 --mount main=/path/main.mp4 --mount sub=/path/sub.mp4
    rtsp.server.py --check     (prints `OK gstreamer=<version>` when everything needed is present)

Each file is demuxed once into memory (access units, no re-encoding). Every client gets its own
pipeline `appsrc ! rtph264pay`, fed from the start of the file and looped forever with timestamps
that keep rising, so a recorder sees one endless camera stream, never an end of stream. A shared
live relay (udpsrc) was avoided: it needs a large socket buffer or keyframes get dropped, and a
client joining mid-GOP would start on frames it cannot decode.

Protocol on stdout, one line each: `READY port=<n>` once the server listens. Errors go to stderr
as `ERROR <message>` with exit code 2. The process quits on SIGTERM/SIGINT, and when its stdin
closes, so a parent that dies without cleaning up never leaves a camera running.
"""

import argparse
import os
import signal
import sys

MAX_FILE_BYTES = 512 * 1024 * 1024
LOAD_TIMEOUT_NS = 10 * 1000 * 1000 * 1000


def fail(message):
    sys.stderr.write("ERROR %s\n" % message)
    sys.stderr.flush()
    sys.exit(2)


try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: F401
except (ImportError, ValueError) as e:
    fail("GStreamer RTSP server bindings missing (python3-gi, gir1.2-gst-rtsp-server-1.0): %s" % e)

REQUIRED_ELEMENTS = ("filesrc", "qtdemux", "h264parse", "appsink", "appsrc", "rtph264pay")


def check_elements():
    missing = [name for name in REQUIRED_ELEMENTS if Gst.ElementFactory.find(name) is None]
    if missing:
        fail(
            "GStreamer elements missing: %s (install gstreamer1.0-plugins-base, -good, -bad)"
            % ", ".join(missing)
        )


class Clip:
    """One MP4's H.264 access units in memory, with the caps the payloader needs."""

    def __init__(self, caps, units, duration_ns):
        self.caps = caps
        self.units = units  # list of (Gst.Buffer, offset_ns from the first unit)
        self.duration_ns = duration_ns


def load_clip(path):
    if not os.path.isfile(path):
        fail("video file not found: %s" % path)
    size = os.path.getsize(path)
    if size == 0:
        fail("video file is empty: %s" % path)
    if size > MAX_FILE_BYTES:
        fail("video file too large for the camera simulator (%d bytes): %s" % (size, path))

    pipeline = Gst.Pipeline.new("load")
    src = Gst.ElementFactory.make("filesrc")
    demux = Gst.ElementFactory.make("qtdemux")
    parse = Gst.ElementFactory.make("h264parse")
    sink = Gst.ElementFactory.make("appsink")
    src.set_property("location", path)
    # avc + au: whole access units with codec_data, what rtph264pay turns into sprop-parameter-sets.
    sink.set_property(
        "caps", Gst.Caps.from_string("video/x-h264,stream-format=avc,alignment=au")
    )
    sink.set_property("sync", False)
    # Otherwise appsink holds EOS back until every queued frame is pulled, and we pull after EOS.
    sink.set_property("wait-on-eos", False)
    for el in (src, demux, parse, sink):
        pipeline.add(el)
    src.link(demux)
    parse.link(sink)

    tracks = []

    def on_pad(_demux, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        kind = caps.get_structure(0).get_name() if caps.get_size() > 0 else "unknown"
        tracks.append(kind)
        if kind == "video/x-h264":
            sinkpad = parse.get_static_pad("sink")
            if not sinkpad.is_linked():
                pad.link(sinkpad)

    demux.connect("pad-added", on_pad)
    pipeline.set_state(Gst.State.PLAYING)

    # appsink queues without limit, so the file demuxes at full speed into memory; the bus says
    # when it is done (EOS) or why it failed (not an MP4, no H.264 track...).
    bus = pipeline.get_bus()
    msg = bus.timed_pop_filtered(LOAD_TIMEOUT_NS, Gst.MessageType.ERROR | Gst.MessageType.EOS)
    error = None
    if msg is None:
        error = "timed out reading the file"
    elif msg.type == Gst.MessageType.ERROR:
        err, _debug = msg.parse_error()
        error = err.message

    units = []
    caps = None
    first_pts = None
    last_end = None
    while error is None:
        sample = sink.try_pull_sample(0)
        if sample is None:
            break
        buf = sample.get_buffer()
        if caps is None:
            caps = sample.get_caps()
        pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
        if pts == Gst.CLOCK_TIME_NONE:
            error = "frames without timestamps"
            break
        if first_pts is None:
            first_pts = pts
            if buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
                error = "does not start with a keyframe"
                break
        units.append((buf, pts - first_pts))
        if buf.duration != Gst.CLOCK_TIME_NONE:
            last_end = pts - first_pts + buf.duration
    pipeline.set_state(Gst.State.NULL)

    if "video/x-h264" not in tracks:
        found = ", ".join(tracks) if tracks else "no tracks"
        fail("cannot serve %s: no H.264 video track (found %s)" % (path, found))
    if error is not None:
        fail(
            "cannot serve %s: %s (the simulator serves H.264 MP4 without re-encoding)"
            % (path, error)
        )
    if not units:
        fail("cannot serve %s: no H.264 video track" % path)

    if last_end is None or last_end <= units[-1][1]:
        # No durations in the file: assume the last frame lasts as long as the one before it.
        step = units[-1][1] - units[-2][1] if len(units) > 1 else Gst.SECOND // 15
        last_end = units[-1][1] + max(step, 1)
    return Clip(caps, units, last_end)


SHALLOW_COPY = (
    Gst.BufferCopyFlags.FLAGS
    | Gst.BufferCopyFlags.TIMESTAMPS
    | Gst.BufferCopyFlags.META
    | Gst.BufferCopyFlags.MEMORY
)


class Feeder:
    """Feeds one client's appsrc, looping the clip with ever-rising timestamps."""

    def __init__(self, clip, appsrc):
        self.clip = clip
        self.appsrc = appsrc
        self.index = 0
        self.loop_base = 0
        appsrc.connect("need-data", self.on_need_data)

    def on_need_data(self, appsrc, _length):
        buf, offset = self.clip.units[self.index]
        # A shallow copy shares the frame's memory; only the timestamps are this client's own.
        out = buf.copy_region(SHALLOW_COPY, 0, buf.get_size())
        ts = self.loop_base + offset
        out.pts = ts
        out.dts = ts
        if self.index > 0 or self.loop_base > 0:
            # The loop seam is not a discontinuity: the stream just goes on.
            out.unset_flags(Gst.BufferFlags.DISCONT)
        appsrc.emit("push-buffer", out)
        self.index += 1
        if self.index >= len(self.clip.units):
            self.index = 0
            self.loop_base += self.clip.duration_ns


def make_factory(clip):
    factory = GstRtspServer.RTSPMediaFactory.new()
    # config-interval=-1 repeats SPS/PPS before every keyframe, as cameras do, so a client that
    # missed the SDP or reconnects can still decode from the next keyframe.
    factory.set_launch(
        "( appsrc name=src format=time is-live=false max-bytes=4000000 "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    # One pipeline per client: each starts at a keyframe, and one client leaving never stalls
    # another. Cheap because nothing is decoded or encoded.
    factory.set_shared(False)
    # Transports stay at the factory default: RTP over UDP or interleaved in the RTSP TCP
    # connection, the two every camera offers (multicast would need an address pool; none is set).

    def on_configure(_factory, media):
        appsrc = media.get_element().get_by_name("src")
        appsrc.set_property("caps", clip.caps)
        # The need-data closure keeps the feeder alive; the attribute makes that explicit.
        media.feeder = Feeder(clip, appsrc)

    factory.connect("media-configure", on_configure)
    return factory


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Looping RTSP camera simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--mount", action="append", default=[], help="name=path of an H.264 MP4 (repeatable)"
    )
    args = parser.parse_args(argv)
    if not args.mount:
        fail("at least one --mount name=path is required")
    if args.port < 0 or args.port > 65535:
        fail("port out of range: %d" % args.port)
    mounts = []
    for spec in args.mount:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            fail("bad --mount %r, expected name=path" % spec)
        mounts.append((name, path))
    return args, mounts


def main(argv):
    if argv == ["--check"]:
        # Availability probe for the server's status page: bindings, typelibs and elements.
        Gst.init(None)
        check_elements()
        sys.stdout.write("OK gstreamer=%s\n" % ".".join(str(n) for n in Gst.version()[:3]))
        return
    args, mounts = parse_args(argv)
    Gst.init(None)
    check_elements()

    server = GstRtspServer.RTSPServer.new()
    server.set_address(args.host)
    server.set_service(str(args.port))
    points = server.get_mount_points()
    for name, path in mounts:
        points.add_factory("/" + name, make_factory(load_clip(path)))

    if server.attach(None) == 0:
        fail("could not listen on %s:%d (port in use?)" % (args.host, args.port))

    loop = GLib.MainLoop()

    # Sessions of clients that vanished without TEARDOWN expire only when someone sweeps them.
    def sweep():
        server.get_session_pool().cleanup()
        return True

    GLib.timeout_add_seconds(2, sweep)

    def quit_loop(*_args):
        loop.quit()
        return False

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, quit_loop)

    def on_stdin(fd, _cond):
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.quit()
            return False
        return True

    GLib.io_add_watch(
        sys.stdin.fileno(),
        GLib.PRIORITY_DEFAULT,
        GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
        on_stdin,
    )

    sys.stdout.write("READY port=%d\n" % server.get_bound_port())
    sys.stdout.flush()
    loop.run()


if __name__ == "__main__":
    main(sys.argv[1:])

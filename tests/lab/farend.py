"""Far ends that behave like the meeting services, for the lab (SIPp + audio made at test time).

A far end is a SIPp UAS scenario built here from a list of steps:
- ``Field(prompt)``: play a spoken prompt (RTP, SIPp's ``play_pcap_audio``), then collect digits
  (SIP INFO, the lab endpoint's DTMF mode) until ``#``; the next step starts at that ``#``;
- ``Pause(prompt, wait_ms)``: play a prompt and expect no digits (Teams' "if you are the
  organizer press star"); the next step starts ``wait_ms`` after the prompt began;
then what the caller hears once admitted (``after``: lobby music for M s and/or meeting talk
with pauses, or RTP silence for a dead-air far end), and optionally a BYE after ``hold_ms``.

Audio is made at test time: espeak-ng speaks the prompt text, sox fits it to the wanted length
(8 kHz, mu-law) and the RTP packets are written into a pcap here (20 ms per packet), so a
prompt's length is exact and known to the test.

What the far end saw comes from SIPp's own message log (``Sipp.messages()``): when the call
was answered (the ACK), when each INFO digit arrived. ``digit_report()`` rebuilds each prompt's
start and end on that timeline and marks every digit that arrived while its prompt was still
playing as lost — the way the services ignore keys pressed during their prompt.

``RtpRecorder`` is the far end's ear: the scenario's SDP can point Asterisk's RTP at a local UDP
socket that records every packet (arrival time, payload type, mu-law energy), e.g. to prove that
no music reaches the far end.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_RATE = 8000
PACKET_MS = 20
PACKET_SAMPLES = SAMPLE_RATE * PACKET_MS // 1000
ULAW_SILENCE = 0xFF
# RTP silence after each prompt: long enough for TALK_DETECT to see prompt_silence (1 s) of
# it, short enough to end before the caller's digits can start the next prompt. SIPp 3.6's
# play_pcap_audio does not stop a file still playing when the call starts the next one; two
# streams interleaved from one port would garble what Asterisk hears.
PROMPT_TAIL_SECONDS = 1.15

# The cache folder for generated audio: the same text and length give the same file.
AUDIO_CACHE = Path("/var/cache/conflink/farend-audio")


class FarEndError(RuntimeError):
    pass


def check_tools() -> None:
    """espeak-ng and sox are system deps of the lab (tools/install-system-deps.sh): fail loudly."""
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        raise FarEndError(f"missing {', '.join(missing)} (Debian packages espeak-ng, sox): run make system-deps")


def _run(cmd: Sequence[str]) -> None:
    res = subprocess.run(list(cmd), capture_output=True, timeout=60)
    if res.returncode != 0:
        raise FarEndError(f"{cmd[0]} failed ({res.returncode}): {res.stderr.decode(errors='replace')[-500:]}")


def _cache_path(kind: str, *key: object) -> Path:
    AUDIO_CACHE.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(repr((kind, *key)).encode()).hexdigest()[:16]
    return AUDIO_CACHE / f"{kind}-{digest}.ul"


def speech(text: str, seconds: float) -> bytes:
    """`text` spoken by espeak-ng, repeated and tempo-fitted to exactly `seconds` (mu-law 8 kHz).
    The sound runs to the very end, so the prompt ends at `seconds`, not earlier."""
    check_tools()
    out = _cache_path("speech", text, round(seconds, 3))
    if out.exists():
        return out.read_bytes()
    work = out.with_suffix(".work")
    work.mkdir(exist_ok=True)
    try:
        wav = work / "say.wav"
        _run(["espeak-ng", "-s", "160", "-w", str(wav), text])
        phrase = work / "phrase.raw"
        # 8 kHz 16-bit, leading and trailing silence cut so that the phrase is all speech.
        _run(["sox", str(wav), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed", "-t", "raw",
              str(phrase), "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse"])
        pcm = phrase.read_bytes()
        phrase_s = len(pcm) / 2 / SAMPLE_RATE
        gap = b"\x00\x00" * int(0.35 * SAMPLE_RATE)  # shorter than any prompt_silence we use
        copies = max(1, round(seconds / (phrase_s + 0.35)))
        joined = work / "joined.raw"
        joined.write_bytes(gap.join([pcm] * copies))
        total_s = (len(pcm) * copies + len(gap) * (copies - 1)) / 2 / SAMPLE_RATE
        fitted = work / "fitted.ul"
        _run(["sox", "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed", str(joined),
              "-t", "raw", "-e", "mu-law", "-b", "8", str(fitted), "tempo", "-s", f"{total_s / seconds:.5f}"])
        audio = _fit(fitted.read_bytes(), seconds)
        out.write_bytes(audio)
        return audio
    finally:
        shutil.rmtree(work, ignore_errors=True)


def music(seconds: float) -> bytes:
    """Continuous hold-music-like sound without a pause (two tones, slow tremolo), mu-law."""
    check_tools()
    out = _cache_path("music", round(seconds, 3))
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        _run(["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-t", "raw", "-e", "mu-law", "-b", "8", str(tmp),
              "synth", f"{seconds:.3f}", "sine", "392", "sine", "523", "tremolo", "1.5", "35", "vol", "0.5"])
        tmp.write_bytes(_fit(tmp.read_bytes(), seconds))
        tmp.replace(out)
    return out.read_bytes()


def music_wav(path: Path, seconds: float = 30.0) -> Path:
    """The same music as a wav file (8 kHz mono), e.g. for the lab's music-on-hold class."""
    check_tools()
    _run(["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(path),
          "synth", f"{seconds:.3f}", "sine", "392", "sine", "523", "tremolo", "1.5", "35", "vol", "0.5"])
    return path


def silence(seconds: float) -> bytes:
    return bytes([ULAW_SILENCE]) * round(seconds * SAMPLE_RATE)


def meeting(seconds: float, talk: float = 2.0, pause: float = 3.0) -> bytes:
    """A meeting heard through the phone: talk bursts with pauses in between."""
    burst = speech("We are discussing the quarterly plan, next item please.", talk)
    rest = silence(pause)
    out = bytearray()
    while len(out) < seconds * SAMPLE_RATE:
        out += burst + rest
    return bytes(out[: int(seconds * SAMPLE_RATE)])


def _fit(audio: bytes, seconds: float) -> bytes:
    n = round(seconds * SAMPLE_RATE)
    return audio[:n] if len(audio) >= n else audio + bytes([ULAW_SILENCE]) * (n - len(audio))


# ------------------------------------------------------------------------------- pcap


@dataclass
class RtpStream:
    """One RTP source for a whole call: every file of the call continues its sequence numbers
    and timestamps. Asterisk heard nothing of a second file that started a new SSRC after a
    gap in the RTP (observed on 22.10); the services' media is one stream too."""

    ssrc: int = 0x1234ABCD
    seq: int = 1000
    ts: int = 160000


def write_rtp_pcap(path: Path, ulaw: bytes, stream: RtpStream | None = None) -> Path:
    """RTP/PCMU packets of 20 ms in a pcap (Ethernet/IPv4/UDP), timed 20 ms apart, as SIPp's
    play_pcap_audio replays them (it rewrites the addresses and keeps the pacing)."""
    stream = stream or RtpStream()
    frames = [ulaw[i:i + PACKET_SAMPLES] for i in range(0, len(ulaw), PACKET_SAMPLES)]
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n, payload in enumerate(frames):
            payload = payload.ljust(PACKET_SAMPLES, bytes([ULAW_SILENCE]))
            rtp = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0x00, stream.seq & 0xFFFF,
                              stream.ts & 0xFFFFFFFF, stream.ssrc) + payload
            stream.seq += 1
            stream.ts += PACKET_SAMPLES
            seq = n
            udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq & 0xFFFF, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            eth = b"\x00" * 12 + b"\x08\x00" + ip
            usec = seq * PACKET_MS * 1000
            f.write(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(eth), len(eth)))
            f.write(eth)
    return path


# ------------------------------------------------------------------------------- scenario


@dataclass
class Field:
    """A prompt, then digits until `#`."""

    seconds: float
    text: str = "Please enter your meeting ID, followed by the pound key."


@dataclass
class Pause:
    """A prompt, then no digits expected; the next step starts `wait_ms` after this one began."""

    seconds: float
    wait_ms: int
    text: str = "If you are the organizer, press star. Otherwise, please wait."


@dataclass
class FarEnd:
    """A far end's behaviour; ``scenario(workdir)`` writes the SIPp XML and its pcaps."""

    steps: list[Field | Pause] = field(default_factory=list)
    lobby_seconds: float = 0.0  # hold music after the last step, before the meeting
    after: str = "meeting"  # "meeting" (talk with pauses), "silence" (dead air, RTP flowing), "none"
    after_seconds: float = 180.0  # length of what plays after admission
    hold_ms: int | None = None  # SIPp hangs up this long after admission (None: waits for BYE)
    rec_port: int | None = None  # SDP points Asterisk's RTP here (RtpRecorder) instead of SIPp

    def scenario(self, workdir: Path, name: str = "farend") -> Path:
        workdir.mkdir(parents=True, exist_ok=True)
        pcaps = []
        stream = RtpStream()
        for i, step in enumerate(self.steps):
            p = workdir / f"{name}-prompt{i + 1}.pcap"
            # RTP keeps flowing for a moment after the prompt (silence), as the services' media does.
            write_rtp_pcap(p, speech(step.text, step.seconds) + silence(PROMPT_TAIL_SECONDS), stream)
            pcaps.append(p)
        tail = b""
        if self.lobby_seconds:
            tail += music(self.lobby_seconds)
        if self.after == "meeting":
            tail += meeting(self.after_seconds)
        elif self.after == "silence":
            tail += silence(self.after_seconds)
        tail_pcap = None
        if tail:
            tail_pcap = write_rtp_pcap(workdir / f"{name}-after.pcap", tail, stream)
        xml = _scenario_xml(self, pcaps, tail_pcap)
        path = workdir / f"{name}.xml"
        path.write_text(xml)
        return path


_OK = """  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
"""


_RINGING = """  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]></send>"""

_ANSWER = """  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio @MEDIA@ RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]></send>"""

_FAR_BYE = """  <send retrans="500"><![CDATA[

      BYE [$rcontact] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From:[$rto];tag=[pid]SIPpTag01[call_number]
      To:[$rfrom]
      [last_Call-ID:]
      CSeq: 100 BYE
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>"""

# Remember the dialog's ends: only a far end that hangs up itself needs them for its BYE.
_CAPTURE_DIALOG = (
    '    <action>\n'
    '      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="rfrom"/>\n'
    '      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="rto"/>\n'
    '      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="rcontact"/>\n'
    '    </action>\n'
)

# Each digit arrives as SIP INFO; the first `#` ends a field.
_RECV_DIGIT_UNTIL_HASH = (
    '    <action>\n'
    '      <ereg regexp="Signal=[0-9*#A-D]" search_in="body" check_it="false" assign_to="sig"/>\n'
    '      <strcmp assign_to="cmp" variable="sig" value="Signal=#"/>\n'
    '      <test assign_to="hash" variable="cmp" compare="equal" value="0"/>\n'
    '    </action>\n'
)


def _answer_steps(fe: FarEnd, bye: bool) -> list[str]:
    media = str(fe.rec_port) if fe.rec_port else "[media_port]"
    invite = (f'  <recv request="INVITE" crlf="true">\n{_CAPTURE_DIALOG}  </recv>' if bye
              else '  <recv request="INVITE" crlf="true"/>')
    return [invite, _RINGING, _ANSWER.replace("@MEDIA@", media), '  <recv request="ACK" crlf="true"/>']


def _prompt_steps(k: int, step: Field | Pause, pcap: Path) -> list[str]:
    """Labels 10k (play the prompt), 10k+1 (take digits), 10k+2 (answer one INFO)."""
    x = [f'  <label id="{10 * k}"/>',
         f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>',
         f'  <label id="{10 * k + 1}"/>']
    if isinstance(step, Field):
        x.append(f'  <recv request="INFO" optional="true" next="{10 * k + 2}">\n{_RECV_DIGIT_UNTIL_HASH}  </recv>')
    else:
        x.append(f'  <recv request="INFO" optional="true" next="{10 * k + 2}" timeout="{step.wait_ms}" '
                 f'ontimeout="{10 * (k + 1)}"/>')
    x += ['  <recv request="BYE" next="900"/>', f'  <label id="{10 * k + 2}"/>', _OK.rstrip("\n")]
    if isinstance(step, Field):
        x.append(f'  <nop next="{10 * (k + 1)}" test="hash"/>')
    x.append(f'  <nop next="{10 * k + 1}"/>')
    return x


def _admitted_steps(k: int, fe: FarEnd, tail: Path | None, bye: bool) -> list[str]:
    """After the last prompt: play the tail, answer INFOs, hang up after hold_ms if set."""
    x = [f'  <label id="{10 * k}"/>']
    if tail is not None:
        x.append(f'  <nop><action><exec play_pcap_audio="{tail}"/></action></nop>')
    timeout = f' timeout="{fe.hold_ms}" ontimeout="850"' if bye else ""
    x += ['  <label id="800"/>', f'  <recv request="INFO" optional="true" next="810"{timeout}/>',
          '  <recv request="BYE" next="900"/>', '  <label id="810"/>', _OK.rstrip("\n"), '  <nop next="800"/>']
    if bye:
        x += ['  <label id="850"/>', _FAR_BYE, '  <recv response="200"/>', '  <nop next="990"/>']
    x += ['  <label id="900"/>', _OK.rstrip("\n"), '  <label id="990"/>', '  <timewait milliseconds="500"/>']
    return x


def _scenario_xml(fe: FarEnd, pcaps: list[Path], tail: Path | None) -> str:
    bye = fe.hold_ms is not None
    x = [
        '<?xml version="1.0" encoding="ISO-8859-1" ?>',
        "<!-- Generated by tests/lab/farend.py: a far end like a meeting service's dial-in. -->",
        '<scenario name="farend">',
        *_answer_steps(fe, bye),
    ]
    for i, (step, pcap) in enumerate(zip(fe.steps, pcaps, strict=True)):
        x += _prompt_steps(i + 1, step, pcap)
    x += _admitted_steps(len(fe.steps) + 1, fe, tail, bye)
    x.append("</scenario>")
    return "\n".join(x) + "\n"


# ------------------------------------------------------------------------------- the old way


FIXED_MARGIN = 0.5  # seconds after each nominal prompt end that the fixed pauses aim for


def fixed_pauses(sequence: str, nominal: list[float], margin: float = FIXED_MARGIN) -> tuple[str, float]:
    """The old way for the same far end, the best it can be for the nominal prompt lengths:
    (dtmf with w/W pauses instead of each `p`, dtmf_delay), every pause ending `margin` after
    the nominal prompt (0.5 s units, rounded up)."""
    parts = sequence.split("p")
    if parts[0] != "" or len(parts) - 1 != len(nominal):
        raise FarEndError(f"{sequence!r} needs one nominal length per p ({nominal})")
    delay = nominal[0] + margin
    out = parts[1]
    for digits, length in zip(parts[2:], nominal[1:], strict=True):
        halves = int(-(-(length + margin) // 0.5))
        out += "W" * (halves // 2) + "w" * (halves % 2) + digits
    return out, delay


def digits_of(sequence: str) -> str:
    """The digits a far end receives for a sequence (pauses and `p` send nothing)."""
    return "".join(c for c in sequence if c not in "pwW")


# ------------------------------------------------------------------------------- the far end's view


@dataclass
class DigitArrival:
    t: float  # when SIPp received the INFO (its log)
    digit: str
    step: int  # 1-based index into FarEnd.steps
    prompt_start: float
    prompt_end: float

    @property
    def lost(self) -> bool:
        return self.t < self.prompt_end

    @property
    def after_prompt(self) -> float:
        return self.t - self.prompt_end


@dataclass
class CallReport:
    call_id: str
    answered: float  # ACK received by the far end
    digits: list[DigitArrival]
    prompt_ends: list[float]
    admitted: float | None  # when the last step ended (the far end let the caller in)

    @property
    def lost(self) -> list[DigitArrival]:
        return [d for d in self.digits if d.lost]

    @property
    def received(self) -> str:
        return "".join(d.digit for d in self.digits)

    def last_digit_after_answer(self) -> float | None:
        return self.digits[-1].t - self.answered if self.digits else None


def digit_report(fe: FarEnd, messages: Iterable) -> list[CallReport]:
    """Per call: each digit the far end received, the prompt it fell into, and whether it was lost.

    Step k's prompt starts at the ACK (k = 1), at the `#` that completed the previous Field, or
    `wait_ms` after the previous Pause began — exactly how the generated scenario moves on."""
    by_call: dict[str, list] = {}
    for m in messages:
        by_call.setdefault(m.call_id, []).append(m)
    reports = []
    for call_id, msgs in by_call.items():
        acks = [m for m in msgs if m.direction == "in" and m.method == "ACK"]
        if not acks:
            continue
        answered = acks[0].t
        seen: set[int] = set()
        infos = []
        for m in msgs:
            if m.direction == "in" and m.method == "INFO" and m.cseq not in seen:
                seen.add(m.cseq)
                infos.append(m)
        digits: list[DigitArrival] = []
        ends: list[float] = []
        start = answered
        queue = list(infos)
        admitted = None
        for k, step in enumerate(fe.steps, start=1):
            end = start + step.seconds
            ends.append(end)
            if isinstance(step, Field):
                nxt = None
                while queue:
                    info = queue.pop(0)
                    digits.append(DigitArrival(info.t, info.digit or "?", k, start, end))
                    if info.digit == "#":
                        nxt = info.t
                        break
                if nxt is None:
                    break
                start = nxt
            else:
                step_end = start + step.wait_ms / 1000
                while queue and queue[0].t < step_end:
                    info = queue.pop(0)
                    digits.append(DigitArrival(info.t, info.digit or "?", k, start, end))
                start = step_end
        else:
            admitted = start
        for info in queue:  # digits after admission: mid-meeting keys, never "lost"
            digits.append(DigitArrival(info.t, info.digit or "?", len(fe.steps) + 1, info.t, info.t))
        reports.append(CallReport(call_id, answered, digits, ends, admitted))
    reports.sort(key=lambda r: r.answered)
    return reports


# ------------------------------------------------------------------------------- the far end's ear


@dataclass
class RtpPacket:
    t: float
    pt: int
    seq: int
    payload: bytes


def _ulaw_to_linear(byte: int) -> int:
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


_ULAW_TABLE = [_ulaw_to_linear(b) for b in range(256)]


def ulaw_rms(payload: bytes) -> float:
    if not payload:
        return 0.0
    return math.sqrt(sum(_ULAW_TABLE[b] ** 2 for b in payload) / len(payload))


class RtpRecorder:
    """A UDP socket that records every RTP packet Asterisk sends to the far end."""

    def __init__(self, port: int | None = None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self.packets: list[RtpPacket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtp-rec-{self.port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, _ = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            cc = data[0] & 0x0F
            pkt = RtpPacket(time.time(), data[1] & 0x7F, struct.unpack("!H", data[2:4])[0], data[12 + 4 * cc:])
            with self._lock:
                self.packets.append(pkt)

    def between(self, t0: float, t1: float) -> list[RtpPacket]:
        with self._lock:
            return [p for p in self.packets if t0 <= p.t < t1]

    def loud_share(self, t0: float, t1: float, threshold: float = 300.0) -> tuple[int, float, float]:
        """(packets, share of PCMU packets with RMS above `threshold`, peak RMS) in [t0, t1)."""
        pkts = [p for p in self.between(t0, t1) if p.pt == 0]
        if not pkts:
            return 0, 0.0, 0.0
        levels = [ulaw_rms(p.payload) for p in pkts]
        return len(pkts), sum(1 for v in levels if v > threshold) / len(pkts), max(levels)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        self._thread.join(timeout=2)


__all__ = [
    "CallReport",
    "DigitArrival",
    "FarEnd",
    "FarEndError",
    "Field",
    "Pause",
    "RtpRecorder",
    "RtpStream",
    "check_tools",
    "digit_report",
    "digits_of",
    "fixed_pauses",
    "meeting",
    "music",
    "music_wav",
    "silence",
    "speech",
    "ulaw_rms",
    "write_rtp_pcap",
]

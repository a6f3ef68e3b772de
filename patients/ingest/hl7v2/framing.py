"""MLLP framing: a byte stream cut into frames, <VT> message <FS><CR>,
with what falls outside them kept too (nothing received is ever lost)."""

from dataclasses import dataclass

START, END, CR = b"\x0b", b"\x1c", b"\r"
OUTSIDE = "bytes outside an MLLP frame: kept, not applied"
UNFINISHED = (
    "the connection closed before the end of the message: kept, not applied "
    "(the sender had no ACK and sends it again)"
)


@dataclass
class Frame:
    raw: bytes
    size: int  # bytes received, more than len(raw) when cut at the limit
    # None: a whole frame; else why these bytes are kept but not applied.
    unframed: str | None = None


class Framer:
    """Splits a byte stream into MLLP frames: <VT> message <FS><CR>."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.inside = False
        self.size = 0  # of the current frame, kept or not
        self.swallow_cr = False

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        if self.swallow_cr and data[:1] == CR:
            data = data[1:]
        self.swallow_cr = False
        view = memoryview(data)
        while view:
            if not self.inside:
                start = bytes(view).find(START)
                junk = view if start < 0 else view[:start]
                self._keep(junk)
                if start < 0:
                    break
                if self.buffer.strip():
                    frames.append(Frame(bytes(self.buffer), self.size, OUTSIDE))
                self.buffer.clear()
                self.size = 0
                self.inside = True
                view = view[start + 1 :]
                continue
            end = bytes(view).find(END)
            self._keep(view if end < 0 else view[:end])
            if end < 0:
                break
            frames.append(Frame(bytes(self.buffer), self.size))
            self.buffer.clear()
            self.size = 0
            self.inside = False
            view = view[end + 1 :]
            if view[:1] == CR:
                view = view[1:]
            elif not view:
                self.swallow_cr = True
        return frames

    def rest(self) -> Frame | None:
        """What is left when the connection closes: half a frame, or junk."""
        if self.buffer.strip():
            why = UNFINISHED if self.inside else OUTSIDE
            return Frame(bytes(self.buffer), self.size, why)
        return None

    def _keep(self, chunk) -> None:
        self.size += len(chunk)
        room = self.limit - len(self.buffer)
        if room > 0:
            self.buffer += chunk[:room]

"""Splitting a byte stream into SIP2 frames, with bounded memory.

A frame ends at CR.  What real peers send is tolerated: CRLF (the LF is dropped as a
stray leading LF of the next frame), blank lines, and bytes split anywhere by TCP.
Feeding the stream one byte at a time yields exactly the frames that feeding it whole
does.

Memory is bounded by ``max_frame_size``: once the bytes of an unfinished frame exceed
it, the buffer reports the frame as oversized (once) and then throws bytes away until
the next CR, so a peer that never sends CR costs nothing.  The search for CR resumes
where the last one stopped, so splitting a frame into many reads stays linear.
"""

from __future__ import annotations

from .errors import FrameError, RemoteProtocolError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameBuffer"]

DEFAULT_MAX_FRAME_SIZE = 32 * 1024
"""Large enough for a 64 response listing hundreds of items; small enough to bound."""


class FrameBuffer:
    """Accumulates received bytes and hands out whole frames.

    Args:
        max_frame_size: The largest frame accepted, terminator excluded.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 2:
            raise ValueError("max_frame_size must allow at least a command identifier")
        self.max_frame_size = max_frame_size
        self._data = bytearray()
        self._scanned = 0
        self._discarding = False

    def __len__(self) -> int:
        """Bytes held for frames not yet complete."""
        return len(self._data)

    def feed(self, data: bytes | bytearray) -> None:
        """Add received bytes."""
        self._data += data

    def next_frame(self) -> bytes | None:
        """Return the next complete frame without its terminator, or ``None``.

        Raises:
            RemoteProtocolError: The frame being received is longer than
                ``max_frame_size``; it is discarded up to its terminator, and the
                buffer goes on with the frame after it.
        """
        data = self._data
        if not data:
            return None  # the usual case once a frame was taken: nothing more yet
        while True:
            if not self._discarding:
                skip = 0
                while skip < len(data) and data[skip] == 0x0A:
                    skip += 1  # the LF of a CRLF, or a stray LF, before a frame
                if skip:
                    del data[:skip]
                    self._scanned = 0
            end = data.find(b"\r", self._scanned)
            if end < 0:
                self._scanned = len(data)
                if self._discarding:
                    data.clear()
                    self._scanned = 0
                elif len(data) > self.max_frame_size:
                    return self._oversized()
                return None
            if self._discarding:
                del data[: end + 1]
                self._scanned = 0
                self._discarding = False
                continue
            if end > self.max_frame_size:
                return self._oversized()
            frame = bytes(data[:end])
            del data[: end + 1]
            self._scanned = 0
            if frame:
                return frame
            # A blank line: nothing to hand out, look for the next frame.

    def _oversized(self) -> bytes | None:
        self._discarding = True
        raise RemoteProtocolError(
            f"frame longer than {self.max_frame_size} bytes", reason=FrameError.OVERSIZED
        )

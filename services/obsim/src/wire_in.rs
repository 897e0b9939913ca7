//! The read half of a connection, between the socket and opensrv-mysql:
//! bytes are handed over one MySQL packet at a time.
//!
//! Why: opensrv-mysql 0.7.0 (the latest release) returns each command
//! packet as a slice of its read buffer, and when one read brought more
//! than one packet it replaces that buffer (`self.bytes = rest.to_vec()`)
//! while the packet it returns still points into the old one, so the
//! command is parsed from freed memory (databendlabs/opensrv#66; fixed
//! upstream by #67, not released). A client that sends a command without
//! waiting for an answer — COM_STMT_CLOSE has none, and mysql.connector's
//! C extension sends it and its next command back to back — then had a
//! garbled command answered with an extra OK, and every later answer on
//! that connection came one behind. A reader that never returns bytes past
//! the end of the packet being read leaves opensrv's buffer with one packet
//! at most, and the replacement never happens.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from the socket at most per call inside a packet.
const CHUNK: usize = 16 << 10;

/// An [`AsyncRead`] that stops every read at the end of the current MySQL
/// packet (4-byte header: 3-byte little-endian payload length, sequence).
#[derive(Debug)]
pub struct PacketBounded<R> {
    inner: R,
    at: Position,
}

#[derive(Debug, Clone, Copy)]
enum Position {
    /// Reading the next header; `have` of its bytes are in `header`.
    Header { header: [u8; 4], have: usize },
    /// Handing the header over; `sent` of its bytes have been.
    Handing { header: [u8; 4], sent: usize },
    /// Inside a payload, `left` bytes from its end.
    Payload { left: usize },
}

const START: Position = Position::Header {
    header: [0; 4],
    have: 0,
};

impl<R> PacketBounded<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, at: START }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for PacketBounded<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match this.at {
                Position::Header { mut header, have } => {
                    let mut rest = ReadBuf::new(&mut header[have..]);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rest))?;
                    let n = rest.filled().len();
                    if n == 0 {
                        // The end of the stream (opensrv reports a packet it
                        // was left in the middle of).
                        return Poll::Ready(Ok(()));
                    }
                    let have = have + n;
                    this.at = match have {
                        4 => Position::Handing { header, sent: 0 },
                        _ => Position::Header { header, have },
                    };
                }
                Position::Handing { header, sent } => {
                    let k = (4 - sent).min(out.remaining());
                    out.put_slice(&header[sent..sent + k]);
                    let sent = sent + k;
                    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
                    this.at = match (sent, len) {
                        (4, 0) => START,
                        (4, left) => Position::Payload { left },
                        _ => Position::Handing { header, sent },
                    };
                    return Poll::Ready(Ok(()));
                }
                Position::Payload { left } => {
                    let mut chunk = [0u8; CHUNK];
                    let limit = left.min(out.remaining()).min(CHUNK);
                    let mut part = ReadBuf::new(&mut chunk[..limit]);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                    let n = part.filled().len();
                    if n == 0 {
                        // The end of the stream, inside a packet.
                        return Poll::Ready(Ok(()));
                    }
                    out.put_slice(part.filled());
                    this.at = match left - n {
                        0 => START,
                        left => Position::Payload { left },
                    };
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::PacketBounded;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        p.push(seq);
        p.extend_from_slice(payload);
        p
    }

    /// Three packets in one buffer (a statement close, a ping, a query):
    /// each read ends at a packet's end, and every byte comes through.
    #[tokio::test]
    async fn reads_stop_at_each_packet_end() {
        let close = packet(0, &[0x19, 1, 0, 0, 0]);
        let ping = packet(0, &[0x0e]);
        let query = packet(0, b"\x03select version()");
        let all = [close.clone(), ping.clone(), query.clone()].concat();
        let mut r = PacketBounded::new(&all[..]);
        let mut seen = Vec::new();
        let mut boundaries = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            boundaries.push(seen.len());
        }
        assert_eq!(seen, all);
        let ends = [
            close.len(),
            close.len() + ping.len(),
            close.len() + ping.len() + query.len(),
        ];
        for end in ends {
            assert!(
                boundaries.contains(&end),
                "no read ended at {end}: {boundaries:?}"
            );
        }
        // No read crosses a packet's end.
        let mut start = 0;
        for b in boundaries {
            assert!(
                !ends.iter().any(|&e| start < e && e < b),
                "a read spans a packet end: {start}..{b}"
            );
            start = b;
        }
    }
}

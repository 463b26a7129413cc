//! The INSTREAM chunk codec: `<u32 big-endian length><bytes>` repeated, ended by a zero
//! length. The server enforces a total size quota the way clamd does: a chunk whose
//! declared length exceeds what is left of the quota is refused before its bytes are read.

/// Encodes one chunk header; a zero length is the end-of-stream marker.
pub fn chunk_header(len: u32) -> [u8; 4] {
    len.to_be_bytes()
}

/// The end-of-stream marker.
pub const END_OF_STREAM: [u8; 4] = [0; 4];

/// What the decoder made of the bytes it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Stream payload, in order.
    Data(&'a [u8]),
    /// The zero-length chunk arrived; the stream is complete.
    End,
    /// A declared chunk would take the stream past its quota. clamd replies
    /// `INSTREAM size limit exceeded. ERROR` and closes the connection.
    LimitExceeded,
}

/// Incremental decoder for one INSTREAM body.
#[derive(Debug, Clone)]
pub struct ChunkDecoder {
    header: [u8; 4],
    header_len: usize,
    left_in_chunk: u32,
    quota_left: u64,
}

impl ChunkDecoder {
    pub fn new(max_stream_len: u64) -> Self {
        ChunkDecoder {
            header: [0; 4],
            header_len: 0,
            left_in_chunk: 0,
            quota_left: max_stream_len,
        }
    }

    /// Consumes a prefix of `input` and returns how many bytes were used and the event
    /// they produced, or `None` as the event when all of `input` went into a header.
    /// Call repeatedly until `input` is used up or an `End`/`LimitExceeded` arrives;
    /// bytes after `End` belong to the next command of an IDSESSION.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> (usize, Option<Event<'a>>) {
        if self.left_in_chunk > 0 {
            let take = input.len().min(self.left_in_chunk as usize);
            self.left_in_chunk -= take as u32;
            return (
                take,
                if take == 0 {
                    None
                } else {
                    Some(Event::Data(&input[..take]))
                },
            );
        }
        let need = 4 - self.header_len;
        let take = input.len().min(need);
        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
        self.header_len += take;
        if self.header_len < 4 {
            return (take, None);
        }
        self.header_len = 0;
        let len = u32::from_be_bytes(self.header);
        if len == 0 {
            return (take, Some(Event::End));
        }
        if u64::from(len) > self.quota_left {
            return (take, Some(Event::LimitExceeded));
        }
        self.quota_left -= u64::from(len);
        self.left_in_chunk = len;
        (take, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(decoder: &mut ChunkDecoder, mut input: &[u8]) -> (Vec<u8>, Option<String>, usize) {
        let mut data = Vec::new();
        let mut used = 0;
        while !input.is_empty() {
            let (n, event) = decoder.feed(input);
            used += n;
            input = &input[n..];
            match event {
                Some(Event::Data(d)) => data.extend_from_slice(d),
                Some(Event::End) => return (data, Some("end".into()), used),
                Some(Event::LimitExceeded) => return (data, Some("limit".into()), used),
                None => {}
            }
        }
        (data, None, used)
    }

    fn encode(chunks: &[&[u8]]) -> Vec<u8> {
        let mut wire = Vec::new();
        for c in chunks {
            wire.extend_from_slice(&chunk_header(c.len() as u32));
            wire.extend_from_slice(c);
        }
        wire.extend_from_slice(&END_OF_STREAM);
        wire
    }

    #[test]
    fn chunks_reassemble_even_fed_byte_by_byte() {
        let wire = encode(&[b"hello ", b"world"]);
        let mut whole = ChunkDecoder::new(1024);
        assert_eq!(
            collect(&mut whole, &wire),
            (b"hello world".to_vec(), Some("end".into()), wire.len())
        );
        let mut dribble = ChunkDecoder::new(1024);
        let mut data = Vec::new();
        let mut ended = false;
        for b in &wire {
            let (d, e, _) = collect(&mut dribble, std::slice::from_ref(b));
            data.extend(d);
            ended |= e.is_some();
        }
        assert!(ended);
        assert_eq!(data, b"hello world");
    }

    #[test]
    fn bytes_after_end_are_left_for_the_next_command() {
        let mut wire = encode(&[b"x"]);
        wire.extend_from_slice(b"zPING\0");
        let mut d = ChunkDecoder::new(10);
        let (_, end, used) = collect(&mut d, &wire);
        assert_eq!(end.as_deref(), Some("end"));
        assert_eq!(&wire[used..], b"zPING\0");
    }

    #[test]
    fn quota_is_enforced_on_declared_length() {
        let wire = encode(&[b"12345", b"678901"]);
        let mut d = ChunkDecoder::new(10);
        let (data, event, _) = collect(&mut d, &wire);
        assert_eq!(data, b"12345");
        assert_eq!(event.as_deref(), Some("limit"));
        let mut huge = ChunkDecoder::new(10);
        assert_eq!(
            huge.feed(&u32::MAX.to_be_bytes()),
            (4, Some(Event::LimitExceeded))
        );
    }
}

//! RecordIO: `<decimal length>\n<bytes>` repeated. The decoder accepts input split at
//! any byte boundary (MESOS-5943 was a client that did not).

/// Frame one record.
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + 8);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
    out
}

/// Largest record accepted by the decoder (guards against a garbage length).
pub const MAX_RECORD: usize = 256 * 1024 * 1024;

#[derive(Default, Debug)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes; returns every record completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        loop {
            let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > 20 {
                    return Err("RecordIO length prefix is too long".into());
                }
                break;
            };
            let len: usize = std::str::from_utf8(&self.buf[..nl])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| "RecordIO length prefix is not a number".to_string())?;
            if len > MAX_RECORD {
                return Err(format!("RecordIO record of {len} bytes is too large"));
            }
            if self.buf.len() < nl + 1 + len {
                break;
            }
            let record = self.buf[nl + 1..nl + 1 + len].to_vec();
            self.buf.drain(..nl + 1 + len);
            out.push(record);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_the_doc_example() {
        let mut d = Decoder::new();
        let recs = d.feed(b"5\nhello20\n{\"type\":\"HEARTBEAT\"}").unwrap();
        assert_eq!(
            recs,
            vec![b"hello".to_vec(), b"{\"type\":\"HEARTBEAT\"}".to_vec()]
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(Decoder::new().feed(b"abc\nxyz").is_err());
    }

    proptest! {
        #[test]
        fn survives_arbitrary_chunking(records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..50), 1..10),
                                       cuts in proptest::collection::vec(1usize..17, 1..40)) {
            let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
            let mut d = Decoder::new();
            let mut got = Vec::new();
            let mut pos = 0;
            let mut i = 0;
            while pos < stream.len() {
                let n = cuts[i % cuts.len()].min(stream.len() - pos);
                got.extend(d.feed(&stream[pos..pos + n]).unwrap());
                pos += n;
                i += 1;
            }
            prop_assert_eq!(got, records);
        }
    }
}

//! The large arrays of `/master/state` (a framework's tasks, the agents) rendered in
//! contiguous chunks on several threads, each with its own [`Writer`], then joined in order:
//! at 400,000 tasks one core writes about 100 MB/s, and the render runs on a blocking thread
//! while the others would idle.

use super::Writer;

/// Below this many items an array is written by the calling thread alone (thread start-up
/// would cost more than it saves).
const PARALLEL_MIN: usize = 1024;

/// One chunk: its elements, comma-separated without brackets, and `fold` over its items.
pub(super) struct Chunk<A> {
    json: Vec<u8>,
    pub acc: A,
}

/// Render `items` with `write` into chunks (one per available core for large arrays, the
/// calling thread taking the first), folding each chunk's items into an `A` with `fold`.
pub(super) fn render<T, A>(
    items: &[T],
    write: impl Fn(&mut Writer, &T) + Sync,
    fold: impl Fn(&mut A, &T) + Sync,
) -> Vec<Chunk<A>>
where
    T: Sync,
    A: Default + Send,
{
    let one = |part: &[T]| {
        let mut json = Vec::with_capacity(part.len().saturating_mul(256));
        let mut acc = A::default();
        let mut w = Writer::new(&mut json);
        for (i, item) in part.iter().enumerate() {
            if i > 0 {
                w.out.push(b',');
            }
            write(&mut w, item);
            fold(&mut acc, item);
        }
        Chunk { json, acc }
    };
    let threads = threads(items.len());
    if threads <= 1 {
        return vec![one(items)];
    }
    let mut parts = items.chunks(items.len().div_ceil(threads));
    let first = parts.next().unwrap_or(&[]);
    std::thread::scope(|s| {
        let one = &one;
        let others: Vec<_> = parts.map(|p| s.spawn(move || one(p))).collect();
        let mut chunks = vec![one(first)];
        for h in others {
            // A panic while rendering is a bug: carry it to the caller (a 500 there).
            chunks.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        chunks
    })
}

fn threads(items: usize) -> usize {
    if items < PARALLEL_MIN {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(8).min(items / (PARALLEL_MIN / 2))
}

impl Writer<'_> {
    /// The chunks as one JSON array. A streaming writer hands large chunks on as they are
    /// instead of copying them.
    pub(super) fn chunks<A>(&mut self, chunks: Vec<Chunk<A>>) {
        self.out.push(b'[');
        let mut first = true;
        for c in chunks.into_iter().filter(|c| !c.json.is_empty()) {
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            match &mut self.sink {
                Some(sink) if c.json.len() >= super::SEGMENT => {
                    sink(std::mem::take(self.out));
                    sink(c.json);
                }
                _ => self.out.extend_from_slice(&c.json),
            }
        }
        self.out.push(b']');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(items: &[u32]) -> (String, u64) {
        let chunks = render(
            items,
            |w, i| w.raw(i.to_string().as_bytes()),
            |acc: &mut u64, i| *acc += u64::from(*i),
        );
        let sum = chunks.iter().map(|c| c.acc).sum();
        let mut out = Vec::new();
        Writer::new(&mut out).chunks(chunks);
        (String::from_utf8(out).unwrap(), sum)
    }

    #[test]
    fn chunks_join_into_the_array_in_order() {
        for n in [0u32, 1, 2, 4095, 4096, 10_001] {
            let items: Vec<u32> = (0..n).collect();
            let (json, sum) = joined(&items);
            let expected = serde_json::to_string(&items).unwrap();
            assert_eq!(json, expected, "{n} items");
            assert_eq!(sum, items.iter().map(|i| u64::from(*i)).sum::<u64>());
        }
    }
}

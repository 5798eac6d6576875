//! The in-memory address index: sorted, non-overlapping ranges per address family, found by
//! binary search. Built once per load from CIDR blocks; requests never decode a database.
//!
//! Knows nothing of countries or files: values are small `Copy` handles chosen by the caller.

use std::net::IpAddr;

/// An address of one family as an integer (`u32` for IPv4, `u128` for IPv6).
pub trait Key: Copy + Ord + std::fmt::Debug {
    /// The lowest address.
    const MIN: Self;
    /// What a lookup compares within a bucket: the address itself for IPv4, its top 64 bits
    /// for IPv6 (half the memory to walk; ties are settled on the full address).
    type Probe: Copy + Ord;
    /// The top 16 bits, which pick the bucket a lookup starts in.
    fn bucket(self) -> usize;
    /// The next 8 bits, which pick the sub-bucket inside a crowded bucket.
    fn sub_bucket(self) -> usize;
    /// This key's probe.
    fn probe(self) -> Self::Probe;
    /// The next address, or `None` past the top.
    fn successor(self) -> Option<Self>;
    /// The previous address, or `None` below the bottom.
    fn predecessor(self) -> Option<Self>;
}

impl Key for u32 {
    const MIN: u32 = 0;
    type Probe = u32;
    #[inline]
    fn bucket(self) -> usize {
        (self >> 16) as usize
    }
    #[inline]
    fn sub_bucket(self) -> usize {
        ((self >> 8) & 0xff) as usize
    }
    #[inline]
    fn probe(self) -> u32 {
        self
    }
    fn successor(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn predecessor(self) -> Option<u32> {
        self.checked_sub(1)
    }
}

impl Key for u128 {
    const MIN: u128 = 0;
    type Probe = u64;
    #[inline]
    fn bucket(self) -> usize {
        (self >> 112) as usize
    }
    #[inline]
    fn sub_bucket(self) -> usize {
        ((self >> 104) & 0xff) as usize
    }
    #[inline]
    fn probe(self) -> u64 {
        (self >> 64) as u64
    }
    fn successor(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn predecessor(self) -> Option<u128> {
        self.checked_sub(1)
    }
}

/// Buckets per family: one for each value of an address's top 16 bits.
const BUCKETS: usize = 1 << 16;
/// Maps this small are searched whole: a bucket table would cost more than it saves.
const SMALL: usize = 64;

/// Every address of one family mapped to a value.
#[derive(Debug, Clone)]
pub struct RangeMap<K: Key, V> {
    /// Sorted and strictly ascending; `starts[0] == K::MIN`, so every address falls in exactly
    /// one range: `[starts[i], starts[i + 1])`. Neighbouring ranges never share a value.
    starts: Vec<K>,
    /// `values[i]` answers for the range starting at `starts[i]`.
    values: Vec<V>,
    /// `probes[i] == starts[i].probe()`, searched first.
    probes: Vec<K::Probe>,
    /// `buckets[b].first` is the first position whose start's top 16 bits are at least `b`
    /// (`buckets[65536].first` is the length): a lookup only searches its own bucket's
    /// starts. Empty for small maps, which are searched whole.
    buckets: Vec<Bucket>,
    /// For each crowded bucket, 257 positions splitting it by the next 8 bits, like `buckets`.
    subs: Vec<u32>,
}

/// Where a bucket's starts begin, and its sub-buckets when it is crowded.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    first: u32,
    /// Offset in `subs`, or `NO_SUBS`.
    subs: u32,
}

const NO_SUBS: u32 = u32::MAX;
/// Buckets with more starts than this are split into sub-buckets.
const CROWDED: usize = 16;

impl<K: Key, V: Copy + Eq> RangeMap<K, V> {
    /// Builds the map from inclusive `(first, last, value)` blocks that are pairwise disjoint or
    /// nested, as CIDR blocks always are. Where blocks nest, the innermost decides; between
    /// blocks, `default` answers.
    pub(crate) fn from_blocks(mut blocks: Vec<(K, K, V)>, default: V) -> RangeMap<K, V> {
        // Outer blocks first at equal starts, so the stack below always holds the nesting chain.
        blocks.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out = RangeMap {
            starts: Vec::with_capacity(blocks.len() + 1),
            values: Vec::with_capacity(blocks.len() + 1),
            probes: Vec::new(),
            buckets: Vec::new(),
            subs: Vec::new(),
        };
        // `cursor` is the first address not yet given a value; `None` once the space is full.
        let mut cursor = Some(K::MIN);
        let mut stack: Vec<(K, V)> = Vec::new();
        for (first, last, value) in blocks {
            while let Some(&(end, outer)) = stack.last() {
                if end >= first {
                    break;
                }
                out.fill(&mut cursor, end, outer);
                stack.pop();
            }
            if let Some(before) = first.predecessor() {
                let around = stack.last().map_or(default, |&(_, outer)| outer);
                out.fill(&mut cursor, before, around);
            }
            stack.push((last, value));
        }
        while let Some((end, value)) = stack.pop() {
            out.fill(&mut cursor, end, value);
        }
        if cursor.is_some() {
            out.push_range(cursor, default);
        }
        out.starts.shrink_to_fit();
        out.values.shrink_to_fit();
        out.probes = out.starts.iter().map(|start| start.probe()).collect();
        if out.starts.len() <= SMALL {
            return out;
        }
        out.buckets = Vec::with_capacity(BUCKETS + 1);
        let mut position = 0;
        for bucket in 0..=BUCKETS {
            while position < out.starts.len() && out.starts[position].bucket() < bucket {
                position += 1;
            }
            out.buckets.push(Bucket {
                first: position as u32,
                subs: NO_SUBS,
            });
        }
        for bucket in 0..BUCKETS {
            let (lo, hi) = (
                out.buckets[bucket].first as usize,
                out.buckets[bucket + 1].first as usize,
            );
            if hi - lo <= CROWDED {
                continue;
            }
            out.buckets[bucket].subs = out.subs.len() as u32;
            let mut position = lo;
            for sub in 0..=256 {
                while position < hi && out.starts[position].sub_bucket() < sub {
                    position += 1;
                }
                out.subs.push(position as u32);
            }
        }
        out
    }

    /// The value for `key`.
    #[inline]
    pub fn get(&self, key: K) -> V {
        // Every start before the bucket is below `key`, every start after it above; the range
        // holding `key` is the last one starting at or below it, possibly in an earlier
        // bucket. `starts[0] == K::MIN <= key`, so the position is at least 1.
        let (lo, hi) = if self.buckets.is_empty() {
            (0, self.starts.len())
        } else {
            let bucket = key.bucket();
            let here = self.buckets[bucket];
            if here.subs == NO_SUBS {
                (here.first as usize, self.buckets[bucket + 1].first as usize)
            } else {
                let at = here.subs as usize + key.sub_bucket();
                (self.subs[at] as usize, self.subs[at + 1] as usize)
            }
        };
        // The starts whose probe equals the key's are usually none or one; the full
        // comparison only runs among them.
        let probe = key.probe();
        let first = lo + self.probes[lo..hi].partition_point(|p| *p < probe);
        let last = first + self.probes[first..hi].partition_point(|p| *p <= probe);
        let idx = first + self.starts[first..last].partition_point(|start| *start <= key);
        self.values[idx - 1]
    }

    /// How many ranges the map holds after merging equal neighbours.
    pub fn n_ranges(&self) -> usize {
        self.starts.len()
    }

    /// Gives `[cursor, last]` to `value` and moves the cursor past `last`. Addresses already
    /// given a value (the cursor is past `last`) keep theirs.
    fn fill(&mut self, cursor: &mut Option<K>, last: K, value: V) {
        let Some(first) = *cursor else { return };
        if first > last {
            return;
        }
        self.push_range(*cursor, value);
        *cursor = last.successor();
    }

    fn push_range(&mut self, first: Option<K>, value: V) {
        let Some(first) = first else { return };
        if self.values.last() == Some(&value) {
            return;
        }
        self.starts.push(first);
        self.values.push(value);
    }
}

/// IPv4 and IPv6 ranges together, with the address rules of a MaxMind DB reader.
#[derive(Debug, Clone)]
pub struct Index<V> {
    v4: RangeMap<u32, V>,
    v6: RangeMap<u128, V>,
    /// True for IPv6 databases, whose reader answers `::a.b.c.d` from the IPv4 tree; then `v6`
    /// holds nothing useful below `::1:0:0` and such addresses are looked up in `v4`.
    v4_under_v6: bool,
}

impl<V: Copy + Eq> Index<V> {
    /// An index of the two families. `v4_under_v6` as for the field.
    pub(crate) fn new(v4: RangeMap<u32, V>, v6: RangeMap<u128, V>, v4_under_v6: bool) -> Self {
        Index {
            v4,
            v6,
            v4_under_v6,
        }
    }

    /// An index that answers `value` everywhere.
    pub fn uniform(value: V) -> Self {
        Index::new(
            RangeMap::from_blocks(Vec::new(), value),
            RangeMap::from_blocks(Vec::new(), value),
            false,
        )
    }

    /// The value for `ip`. An IPv4-mapped address (`::ffff:a.b.c.d`) is looked up as the IPv4
    /// address it carries, whatever the database says about `::ffff:0:0/96`.
    #[inline]
    pub fn get(&self, ip: IpAddr) -> V {
        match ip.to_canonical() {
            IpAddr::V4(v4) => self.v4.get(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                if self.v4_under_v6 && bits >> 32 == 0 {
                    self.v4.get(bits as u32)
                } else {
                    self.v6.get(bits)
                }
            }
        }
    }

    /// Ranges held, IPv4 and IPv6 together.
    pub fn n_ranges(&self) -> usize {
        self.v4.n_ranges() + self.v6.n_ranges()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(blocks: &[(u32, u32, u8)], probes: &[(u32, u8)]) {
        let map = RangeMap::from_blocks(blocks.to_vec(), 0);
        for &(key, expected) in probes {
            assert_eq!(map.get(key), expected, "at {key}");
        }
    }

    #[test]
    fn empty_map_answers_the_default_everywhere() {
        check(&[], &[(0, 0), (u32::MAX, 0)]);
    }

    #[test]
    fn gaps_between_blocks_answer_the_default() {
        check(
            &[(10, 19, 1), (30, 39, 2)],
            &[
                (9, 0),
                (10, 1),
                (19, 1),
                (20, 0),
                (29, 0),
                (30, 2),
                (39, 2),
                (40, 0),
            ],
        );
    }

    #[test]
    fn innermost_nested_block_wins() {
        check(
            &[(0, 255, 1), (16, 31, 2), (20, 23, 3)],
            &[
                (15, 1),
                (16, 2),
                (19, 2),
                (20, 3),
                (23, 3),
                (24, 2),
                (31, 2),
                (32, 1),
                (256, 0),
            ],
        );
    }

    #[test]
    fn blocks_touching_the_top_of_the_space_end_cleanly() {
        check(
            &[(u32::MAX - 15, u32::MAX, 7)],
            &[(u32::MAX - 16, 0), (u32::MAX - 15, 7), (u32::MAX, 7)],
        );
        check(&[(0, u32::MAX, 4)], &[(0, 4), (u32::MAX, 4)]);
    }

    #[test]
    fn equal_neighbours_are_merged() {
        let map = RangeMap::from_blocks(vec![(0u32, 9, 1u8), (10, 19, 1), (20, 29, 2)], 0);
        assert_eq!(map.n_ranges(), 3);
    }

    #[test]
    fn mapped_ipv6_reads_the_ipv4_ranges() {
        let v4 = RangeMap::from_blocks(vec![(0xc000_0200u32, 0xc000_02ff, 5u8)], 0);
        let index = Index::new(v4, RangeMap::from_blocks(Vec::new(), 0), false);
        assert_eq!(index.get("::ffff:192.0.2.9".parse().unwrap()), 5);
        assert_eq!(index.get("::192.0.2.9".parse().unwrap()), 0);
    }

    /// CIDR blocks of a 12-bit space as (first, last), generated by prefix.
    fn cidr_blocks() -> impl Strategy<Value = Vec<(u32, u32, u8)>> {
        prop::collection::vec((0u32..4096, 0u32..=12, 1u8..6), 0..24).prop_map(|raw| {
            raw.into_iter()
                .map(|(addr, len, value)| {
                    let size = 1u32 << (12 - len);
                    let first = addr & !(size - 1);
                    (first, first + size - 1, value)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn agrees_with_a_longest_prefix_scan(blocks in cidr_blocks()) {
            let map = RangeMap::from_blocks(blocks.clone(), 0);
            for key in 0u32..4096 {
                // The smallest block containing the key; among identical blocks the last given.
                let expected = blocks
                    .iter()
                    .enumerate()
                    .filter(|(_, (first, last, _))| *first <= key && key <= *last)
                    .min_by_key(|(idx, (first, last, _))| (last - first, std::cmp::Reverse(*idx)))
                    .map_or(0, |(_, block)| block.2);
                prop_assert_eq!(map.get(key), expected, "at {}", key);
            }
        }
    }
}

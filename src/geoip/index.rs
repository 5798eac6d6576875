//! Address ranges and the compiled trie that answers lookups.
//!
//! Sources (a database, the overrides file) are flattened into `Ranges`: sorted,
//! non-overlapping ranges, searched in a plain way and easy to fold together. The `Locator`
//! then compiles the folded ranges into a `Trie` in the Poptrie layout: a direct table on the
//! top bits, then nodes of 64 slots whose children and leaves are found with a bitmap and a
//! population count. A lookup reads one direct entry and, where networks are crowded, a few
//! small nodes; requests never decode a database.
//!
//! Knows nothing of countries or files: values are `u32` handles chosen by the caller.

use std::collections::VecDeque;
use std::net::IpAddr;

/// An address of one family as an integer (`u32` for IPv4, `u128` for IPv6).
pub trait Key: Copy + Ord + std::fmt::Debug {
    /// The lowest address.
    const MIN: Self;
    /// The key as the trie walks it: left-aligned in `Wide::BITS` bits, so that below every
    /// allowed direct table the key splits into whole 6-bit strides.
    type Wide: Wide;
    /// Direct table sizes (bits) the trie may use for this family, smallest first.
    const DIRECT_BITS: [u32; 4];
    /// The key in the trie's layout.
    fn widen(self) -> Self::Wide;
    /// The next address, or `None` past the top.
    fn successor(self) -> Option<Self>;
    /// The previous address, or `None` below the bottom.
    fn predecessor(self) -> Option<Self>;
}

/// The integer a key is walked as.
pub trait Wide: Copy + Ord + std::fmt::Debug {
    /// Bits in use.
    const BITS: u32;
    /// Zero.
    const ZERO: Self;
    /// `self >> shift`, as a table position.
    fn index(self, shift: u32) -> usize;
    /// The 6-bit slot `shift` bits up.
    fn slot(self, shift: u32) -> u32;
    /// `self + (n << shift)`.
    fn offset(self, n: u32, shift: u32) -> Self;
    /// The last key of the block of `2^shift` keys starting at `self`.
    fn block_last(self, shift: u32) -> Self;
    /// How many whole blocks of `2^shift` keys lie between `self` and `later`.
    fn blocks_to(self, later: Self, shift: u32) -> u32;
}

impl Wide for u64 {
    const BITS: u32 = 36;
    const ZERO: u64 = 0;
    #[inline]
    fn index(self, shift: u32) -> usize {
        (self >> shift) as usize
    }
    #[inline]
    fn slot(self, shift: u32) -> u32 {
        ((self >> shift) & 63) as u32
    }
    fn offset(self, n: u32, shift: u32) -> u64 {
        self + (u64::from(n) << shift)
    }
    fn block_last(self, shift: u32) -> u64 {
        self + ((1u64 << shift) - 1)
    }
    fn blocks_to(self, later: u64, shift: u32) -> u32 {
        ((later - self) >> shift) as u32
    }
}

impl Wide for u128 {
    const BITS: u32 = 128;
    const ZERO: u128 = 0;
    #[inline]
    fn index(self, shift: u32) -> usize {
        // Direct tables take at most the top 20 bits (`DIRECT_BITS`), all in the high half:
        // one 64-bit shift instead of a 128-bit one.
        debug_assert!(shift >= 64);
        ((self >> 64) as u64 >> (shift - 64)) as usize
    }
    #[inline]
    fn slot(self, shift: u32) -> u32 {
        ((self >> shift) & 63) as u32
    }
    fn offset(self, n: u32, shift: u32) -> u128 {
        self + (u128::from(n) << shift)
    }
    fn block_last(self, shift: u32) -> u128 {
        if shift == 128 {
            u128::MAX
        } else {
            self + ((1u128 << shift) - 1)
        }
    }
    fn blocks_to(self, later: u128, shift: u32) -> u32 {
        ((later - self) >> shift) as u32
    }
}

impl Key for u32 {
    const MIN: u32 = 0;
    // 36 bits: the 32 of the address and 4 below it, so that 0, 6, 12 or 18 direct bits leave
    // whole strides. The padding bits are always zero and no range starts inside them.
    type Wide = u64;
    const DIRECT_BITS: [u32; 4] = [0, 6, 12, 18];
    #[inline]
    fn widen(self) -> u64 {
        u64::from(self) << 4
    }
    fn successor(self) -> Option<u32> {
        self.checked_add(1)
    }
    fn predecessor(self) -> Option<u32> {
        self.checked_sub(1)
    }
}

// `Wide::index` for `u128` shifts only the high half.
const _: () = assert!(128 - <u128 as Key>::DIRECT_BITS[3] >= 64);

impl Key for u128 {
    const MIN: u128 = 0;
    type Wide = u128;
    const DIRECT_BITS: [u32; 4] = [2, 8, 14, 20];
    #[inline]
    fn widen(self) -> u128 {
        self
    }
    fn successor(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn predecessor(self) -> Option<u128> {
        self.checked_sub(1)
    }
}

/// Every address of one family mapped to a value, as sorted ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranges<K> {
    /// Sorted and strictly ascending; `starts[0] == K::MIN`, so every address falls in exactly
    /// one range: `[starts[i], starts[i + 1])`.
    starts: Vec<K>,
    /// `values[i]` answers for the range starting at `starts[i]`; neighbours always differ.
    values: Vec<u32>,
}

impl<K: Key> Ranges<K> {
    /// Flattens inclusive `(first, last, value)` blocks that are pairwise disjoint or nested,
    /// as CIDR blocks always are. Where blocks nest, the innermost decides; between blocks,
    /// `default` answers.
    pub(crate) fn from_blocks(mut blocks: Vec<(K, K, u32)>, default: u32) -> Ranges<K> {
        // Outer blocks first at equal starts, so the stack below always holds the nesting chain.
        blocks.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut ranges = Ranges {
            starts: Vec::with_capacity(blocks.len() + 1),
            values: Vec::with_capacity(blocks.len() + 1),
        };
        // `cursor` is the first address not yet given a value; `None` once the space is full.
        let mut cursor = Some(K::MIN);
        let mut stack: Vec<(K, u32)> = Vec::new();
        for (first, last, value) in blocks {
            while let Some(&(end, outer)) = stack.last() {
                if end >= first {
                    break;
                }
                ranges.fill(&mut cursor, end, outer);
                stack.pop();
            }
            if let Some(before) = first.predecessor() {
                let around = stack.last().map_or(default, |&(_, outer)| outer);
                ranges.fill(&mut cursor, before, around);
            }
            stack.push((last, value));
        }
        while let Some((end, value)) = stack.pop() {
            ranges.fill(&mut cursor, end, value);
        }
        if cursor.is_some() {
            ranges.push_range(cursor, default);
        }
        ranges.starts.shrink_to_fit();
        ranges.values.shrink_to_fit();
        ranges
    }

    /// The value for `key`, by binary search.
    pub fn get(&self, key: K) -> u32 {
        // `starts[0] == K::MIN <= key`, so the position is at least 1.
        self.values[self.starts.partition_point(|start| *start <= key) - 1]
    }

    /// How many ranges there are.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True for the map with no range: never built, since the whole space is always covered.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Folds three maps of the same family into one: each range of the result lies inside one
    /// range of every layer, and answers `combine` of the layers' values there.
    pub(crate) fn fold(
        layers: [&Ranges<K>; 3],
        mut combine: impl FnMut([u32; 3]) -> u32,
    ) -> Ranges<K> {
        let mut folded = Ranges {
            starts: Vec::with_capacity(layers.iter().map(|layer| layer.len()).max().unwrap_or(1)),
            values: Vec::new(),
        };
        let mut at = [0usize; 3];
        let mut key = K::MIN;
        loop {
            let values = [0, 1, 2].map(|n| layers[n].values[at[n]]);
            folded.push_range(Some(key), combine(values));
            let next_start = |n: usize| layers[n].starts.get(at[n] + 1).copied();
            let Some(next) = (0..3).filter_map(next_start).min() else {
                break;
            };
            for (n, position) in at.iter_mut().enumerate() {
                if layers[n].starts.get(*position + 1) == Some(&next) {
                    *position += 1;
                }
            }
            key = next;
        }
        folded
    }

    /// Gives `[cursor, last]` to `value` and moves the cursor past `last`. Addresses already
    /// given a value (the cursor is past `last`) keep theirs.
    fn fill(&mut self, cursor: &mut Option<K>, last: K, value: u32) {
        let Some(first) = *cursor else { return };
        if first > last {
            return;
        }
        self.push_range(*cursor, value);
        *cursor = last.successor();
    }

    fn push_range(&mut self, first: Option<K>, value: u32) {
        let Some(first) = first else { return };
        if self.values.last() == Some(&value) {
            return;
        }
        self.starts.push(first);
        self.values.push(value);
    }
}

/// Both address families as ranges, with the address rules of a MaxMind DB reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRanges {
    /// IPv4.
    pub v4: Ranges<u32>,
    /// IPv6; below `::1:0:0` it holds nothing useful when `v4_under_v6` is set.
    pub v6: Ranges<u128>,
    /// True for IPv6 databases, whose reader answers `::a.b.c.d` from the IPv4 tree.
    pub v4_under_v6: bool,
}

impl AddressRanges {
    /// `value` everywhere.
    pub fn uniform(value: u32) -> AddressRanges {
        AddressRanges {
            v4: Ranges::from_blocks(Vec::new(), value),
            v6: Ranges::from_blocks(Vec::new(), value),
            v4_under_v6: false,
        }
    }

    /// The value for `ip`, by binary search. An IPv4-mapped address (`::ffff:a.b.c.d`) is
    /// looked up as the IPv4 address it carries, whatever the source says about
    /// `::ffff:0:0/96`.
    pub fn get(&self, ip: IpAddr) -> u32 {
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
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Never true: both families always cover their whole space.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Marks a direct entry that holds a value rather than a node position.
const LEAF: u32 = 1 << 31;
/// The largest value a trie may hold: the top bit marks leaves in the direct table.
pub const MAX_VALUE: u32 = LEAF - 1;

/// Ranges of one family compiled for lookups.
#[derive(Debug, Clone)]
pub struct Trie<K: Key> {
    /// One entry per value of the key's top bits: `LEAF | value` where the whole block has
    /// one value, else the position of its node.
    direct: Direct,
    direct_shift: u32,
    /// The children of a node are contiguous, in slot order; so are its leaves.
    nodes: Vec<Node>,
    leaves: Leaves,
    family: std::marker::PhantomData<K>,
}

/// The direct table, two bytes an entry when the node positions and the values fit in 16
/// bits together (as in IPv6 tables, where few blocks of the top bits hold networks, and
/// the values are a few hundred locations): half the cache lines for the same entries.
#[derive(Debug, Clone)]
enum Direct {
    /// An entry below `split` is a node position; from `split` up, the value `entry - split`.
    Narrow {
        entries: Box<[u16]>,
        split: u32,
    },
    Wide(Box<[u32]>),
}

impl Direct {
    fn new(entries: Vec<u32>) -> Direct {
        let split = entries
            .iter()
            .filter(|&&entry| entry & LEAF == 0)
            .map(|&position| position + 1)
            .max()
            .unwrap_or(0);
        let narrow = |&entry: &u32| {
            let entry = if entry & LEAF != 0 {
                split.checked_add(entry & !LEAF)?
            } else {
                entry
            };
            u16::try_from(entry).ok()
        };
        match entries.iter().map(narrow).collect() {
            Some(entries) => Direct::Narrow { entries, split },
            None => Direct::Wide(entries.into_boxed_slice()),
        }
    }

    /// The entry at `at`, in the wide form.
    #[inline]
    fn get(&self, at: usize) -> u32 {
        match self {
            Direct::Narrow { entries, split } => {
                let entry = u32::from(entries[at]);
                if entry >= *split {
                    LEAF | (entry - split)
                } else {
                    entry
                }
            }
            Direct::Wide(entries) => entries[at],
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Direct::Narrow { entries, .. } => entries.len() * 2,
            Direct::Wide(entries) => entries.len() * 4,
        }
    }
}

/// Leaf values, two bytes each when they all fit: half the cache lines for the same leaves.
#[derive(Debug, Clone)]
enum Leaves {
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
}

impl Leaves {
    fn new(values: Vec<u32>) -> Leaves {
        match values.iter().map(|&value| u16::try_from(value)).collect() {
            Ok(narrow) => Leaves::Narrow(narrow),
            Err(_) => Leaves::Wide(values.into_boxed_slice()),
        }
    }

    #[inline]
    fn get(&self, at: u32) -> u32 {
        match self {
            Leaves::Narrow(values) => u32::from(values[at as usize]),
            Leaves::Wide(values) => values[at as usize],
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Leaves::Narrow(values) => values.len() * 2,
            Leaves::Wide(values) => values.len() * 4,
        }
    }
}

/// 64 slots, each covering `2^shift` keys of its parent's block.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Bit `s` set: slot `s` is a child node (its block holds more than one value).
    children: u64,
    /// Bit `s` set: a run of equal leaves starts at slot `s` (children skipped), so the leaf of
    /// slot `s` is the run counted by the bits up to `s`.
    runs: u64,
    first_child: u32,
    first_leaf: u32,
}

/// Direct table slots allowed per range: more bits make more lookups end in the direct table,
/// at a memory cost that stays small next to the nodes.
const DIRECT_SLOTS_PER_RANGE: usize = 4;

impl<K: Key> Trie<K> {
    /// Compiles `ranges`, whose values are at most [`MAX_VALUE`]: every block that lies inside
    /// one range becomes a leaf, every other block a node of 64 sub-blocks, down to blocks
    /// inside a single address.
    pub fn new(ranges: &Ranges<K>) -> Trie<K> {
        let starts: Vec<K::Wide> = ranges.starts.iter().map(|start| start.widen()).collect();
        let direct_bits = K::DIRECT_BITS
            .into_iter()
            .rev()
            .find(|bits| (1usize << bits) <= (starts.len() * DIRECT_SLOTS_PER_RANGE).max(64))
            .unwrap_or(K::DIRECT_BITS[0]);
        let mut builder = Builder {
            starts: &starts,
            values: &ranges.values,
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        let direct_shift = <K::Wide as Wide>::BITS - direct_bits;
        let mut direct = Vec::with_capacity(1 << direct_bits);
        let whole = <K::Wide as Wide>::ZERO.block_last(<K::Wide as Wide>::BITS);
        let mut queue = VecDeque::new();
        let mut cursor = 0;
        let mut slot = 0u32;
        while slot < 1 << direct_bits {
            let first = <K::Wide as Wide>::ZERO.offset(slot, direct_shift);
            cursor = builder.advance(cursor, first);
            let run = builder.run(
                cursor,
                first,
                whole,
                direct_shift,
                (1 << direct_bits) - slot,
            );
            if run > 0 {
                let leaf = LEAF | ranges.values[cursor];
                direct.extend(std::iter::repeat_n(leaf, run as usize));
                slot += run;
            } else {
                queue.push_back(Pending {
                    at: builder.nodes.len(),
                    first,
                    shift: direct_shift - 6,
                    cursor,
                });
                direct.push(builder.nodes.len() as u32);
                builder.nodes.push(Node::EMPTY);
                slot += 1;
            }
        }
        // Breadth first, so that each level's nodes and leaves lie together: the upper levels,
        // which most lookups end in, stay dense in the cache.
        while let Some(pending) = queue.pop_front() {
            builder.fill(pending, &mut queue);
        }
        let mut nodes = builder.nodes;
        nodes.shrink_to_fit();
        Trie {
            direct: Direct::new(direct),
            direct_shift,
            nodes,
            leaves: Leaves::new(builder.leaves),
            family: std::marker::PhantomData,
        }
    }

    /// The value for `key`.
    #[inline]
    pub fn get(&self, key: K) -> u32 {
        let wide = key.widen();
        let mut shift = self.direct_shift;
        let mut entry = self.direct.get(wide.index(shift));
        while entry & LEAF == 0 {
            let node = &self.nodes[entry as usize];
            shift -= 6;
            let slot = wide.slot(shift);
            // The slot's own bit and every bit below it.
            let upto = u64::MAX >> (63 - slot);
            if node.children & (1 << slot) != 0 {
                entry = node.first_child + (node.children & upto).count_ones() - 1;
            } else {
                return self
                    .leaves
                    .get(node.first_leaf + (node.runs & upto).count_ones() - 1);
            }
        }
        entry & !LEAF
    }

    /// Bytes held, for capacity planning.
    pub fn heap_bytes(&self) -> usize {
        self.direct.bytes() + self.nodes.len() * std::mem::size_of::<Node>() + self.leaves.bytes()
    }
}

impl Node {
    const EMPTY: Node = Node {
        children: 0,
        runs: 0,
        first_child: 0,
        first_leaf: 0,
    };
}

struct Builder<'a, W> {
    starts: &'a [W],
    values: &'a [u32],
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

impl<W: Wide> Builder<'_, W> {
    /// The range holding `key`, searching forward from the range `cursor`, which starts at or
    /// below it.
    fn advance(&self, mut cursor: usize, key: W) -> usize {
        while cursor + 1 < self.starts.len() && self.starts[cursor + 1] <= key {
            cursor += 1;
        }
        cursor
    }

    /// How many slots of `2^shift` keys from `first` lie wholly inside the range `cursor`,
    /// which holds `first`: `slots` (all that are left) when the range reaches past `last`,
    /// the end of the block.
    fn run(&self, cursor: usize, first: W, last: W, shift: u32, slots: u32) -> u32 {
        match self.starts.get(cursor + 1) {
            Some(&next) if next <= last => first.blocks_to(next, shift),
            _ => slots,
        }
    }

    /// Fills node `at`, whose block starts at `first` and whose slots cover `2^shift` keys;
    /// `cursor` is the range holding `first`. Its children are appended to the nodes and
    /// queued to be filled in turn.
    fn fill(
        &mut self,
        Pending {
            at,
            first,
            shift,
            mut cursor,
        }: Pending<W>,
        queue: &mut VecDeque<Pending<W>>,
    ) {
        let last = first.block_last(shift + 6);
        let mut node = Node {
            first_leaf: self.leaves.len() as u32,
            first_child: self.nodes.len() as u32,
            ..Node::EMPTY
        };
        let mut last_leaf = None;
        let mut slot = 0;
        while slot < 64 {
            let slot_first = first.offset(slot, shift);
            cursor = self.advance(cursor, slot_first);
            let run = self.run(cursor, slot_first, last, shift, 64 - slot);
            if run > 0 {
                // These slots lie inside one range: one leaf, unless the run before (children
                // skipped) has the same value.
                let value = self.values[cursor];
                if last_leaf != Some(value) {
                    node.runs |= 1 << slot;
                    self.leaves.push(value);
                    last_leaf = Some(value);
                }
                slot += run;
            } else {
                // A range starts strictly inside this slot. A slot of one key of the wide
                // layout lies inside one address, so this only happens while `shift >= 6`.
                node.children |= 1 << slot;
                queue.push_back(Pending {
                    at: self.nodes.len(),
                    first: slot_first,
                    shift: shift - 6,
                    cursor,
                });
                self.nodes.push(Node::EMPTY);
                slot += 1;
            }
        }
        self.nodes[at] = node;
    }
}

/// A node waiting to be filled: where it is, where its block starts, its slots' size and the
/// range holding its first key.
struct Pending<W> {
    at: usize,
    first: W,
    shift: u32,
    cursor: usize,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Both forms of the map: the ranges and their trie, which must agree everywhere.
    fn both<K: Key>(blocks: Vec<(K, K, u32)>, default: u32) -> (Ranges<K>, Trie<K>) {
        let ranges = Ranges::from_blocks(blocks, default);
        let trie = Trie::new(&ranges);
        (ranges, trie)
    }

    fn check(blocks: &[(u32, u32, u32)], probes: &[(u32, u32)]) {
        let (ranges, trie) = both(blocks.to_vec(), 0);
        for &(key, expected) in probes {
            assert_eq!(ranges.get(key), expected, "ranges at {key}");
            assert_eq!(trie.get(key), expected, "trie at {key}");
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
        let (ranges, trie) = both(vec![(u128::MAX - 1, u128::MAX, 3u32)], 0);
        assert_eq!((ranges.get(u128::MAX), trie.get(u128::MAX)), (3, 3));
        assert_eq!((ranges.get(u128::MAX - 2), trie.get(u128::MAX - 2)), (0, 0));
    }

    #[test]
    fn equal_neighbours_are_merged() {
        let ranges = Ranges::from_blocks(vec![(0u32, 9, 1), (10, 19, 1), (20, 29, 2)], 0);
        assert_eq!(ranges.len(), 3);
    }

    #[test]
    fn mapped_ipv6_reads_the_ipv4_ranges() {
        let ranges = AddressRanges {
            v4: Ranges::from_blocks(vec![(0xc000_0200u32, 0xc000_02ff, 5)], 0),
            v6: Ranges::from_blocks(Vec::new(), 0),
            v4_under_v6: false,
        };
        assert_eq!(ranges.get("::ffff:192.0.2.9".parse().unwrap()), 5);
        assert_eq!(ranges.get("::192.0.2.9".parse().unwrap()), 0);
        let aliased = AddressRanges {
            v4_under_v6: true,
            ..ranges
        };
        assert_eq!(aliased.get("::192.0.2.9".parse().unwrap()), 5);
    }

    #[test]
    fn folding_combines_the_layers_everywhere() {
        let a = Ranges::from_blocks(vec![(10u32, 19, 1), (40, 49, 2)], 0);
        let b = Ranges::from_blocks(vec![(15u32, 44, 3)], 0);
        let c = Ranges::from_blocks(vec![(0u32, 11, 5), (47, 47, 6)], 0);
        let folded = Ranges::fold([&a, &b, &c], |[x, y, z]| x * 100 + y * 10 + z);
        for key in 0..60 {
            assert_eq!(
                folded.get(key),
                a.get(key) * 100 + b.get(key) * 10 + c.get(key),
                "at {key}"
            );
        }
        // Equal neighbours are merged in the result too.
        let constant = Ranges::fold([&a, &b, &c], |_| 9);
        assert_eq!(constant.len(), 1);
    }

    /// Random CIDR blocks of a `bits`-wide space, as (first, last, value), and probes at
    /// their edges and beside them.
    fn random_blocks(bits: u32, n: usize, seed: u64) -> (Vec<(u128, u128, u32)>, Vec<u128>) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let top = if bits == 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        };
        let mut blocks = Vec::new();
        let mut probes = vec![0, top];
        for _ in 0..n {
            let len = match rng.random_range(0..10) {
                0 => rng.random_range(0..=bits / 2),
                1..=6 => rng.random_range(bits / 2..=bits * 3 / 4),
                _ => rng.random_range(bits * 3 / 4..=bits),
            };
            let size_bits = bits - len;
            let mask = if size_bits == 128 {
                u128::MAX
            } else {
                (1u128 << size_bits) - 1
            };
            let first = rng.random::<u128>() & top & !mask;
            let last = first | mask;
            blocks.push((first, last, rng.random_range(1..2000)));
            probes.extend([
                first,
                last,
                first.saturating_sub(1),
                last.saturating_add(1).min(top),
                rng.random::<u128>() & top,
            ]);
        }
        (blocks, probes)
    }

    #[test]
    fn a_large_ipv4_trie_agrees_with_its_ranges() {
        for (n, seed) in [(0, 1), (40, 2), (3_000, 3), (120_000, 4)] {
            let (blocks, probes) = random_blocks(32, n, seed);
            let blocks = blocks
                .iter()
                .map(|&(first, last, value)| (first as u32, last as u32, value))
                .collect();
            let (ranges, trie) = both(blocks, 7);
            for probe in probes {
                let key = probe as u32;
                assert_eq!(trie.get(key), ranges.get(key), "{n} blocks, at {key:#x}");
            }
        }
    }

    #[test]
    fn narrow_direct_entries_keep_node_positions_and_values_that_fit_in_16_bits_together() {
        // Nodes 0..=0x7fff and values up to 0x7fff: 0x8000 + 0x7fff = 0xffff.
        let entries = vec![LEAF | 0x7fff, 0x7fff, LEAF, 0, 5, LEAF | 1];
        let direct = Direct::new(entries.clone());
        assert!(matches!(direct, Direct::Narrow { split: 0x8000, .. }));
        for (at, &entry) in entries.iter().enumerate() {
            assert_eq!(direct.get(at), entry);
        }
        // More nodes than 15 bits hold, few values (a crowded IPv6 table).
        let entries = vec![0xfff0, LEAF | 14, 3, LEAF];
        let direct = Direct::new(entries.clone());
        assert!(matches!(direct, Direct::Narrow { .. }));
        for (at, &entry) in entries.iter().enumerate() {
            assert_eq!(direct.get(at), entry);
        }
        for wide in [
            vec![0x7fff, LEAF | 0x8000],
            vec![0xffff, LEAF],
            vec![LEAF | 0x1_0000],
        ] {
            assert!(matches!(Direct::new(wide), Direct::Wide(_)));
        }
        assert!(matches!(
            Direct::new(vec![LEAF | 0xffff]),
            Direct::Narrow { split: 0, .. }
        ));
    }

    #[test]
    fn the_direct_table_is_narrow_only_when_every_entry_fits_and_answers_alike() {
        for (base, narrow) in [(0, true), (40_000, true), (70_000, false)] {
            let (blocks, probes) = random_blocks(32, 3_000, 9);
            let blocks = blocks
                .iter()
                .map(|&(first, last, value)| (first as u32, last as u32, value + base))
                .collect();
            let (ranges, trie) = both(blocks, base + 7);
            assert_eq!(matches!(trie.direct, Direct::Narrow { .. }), narrow);
            for probe in probes {
                let key = probe as u32;
                assert_eq!(
                    trie.get(key),
                    ranges.get(key),
                    "values from {base}, at {key:#x}"
                );
            }
        }
    }

    #[test]
    fn a_large_ipv6_trie_agrees_with_its_ranges() {
        for (n, seed) in [(0, 1), (40, 2), (3_000, 3), (60_000, 4)] {
            let (blocks, probes) = random_blocks(128, n, seed);
            let (ranges, trie) = both(blocks, 7);
            for key in probes {
                assert_eq!(trie.get(key), ranges.get(key), "{n} blocks, at {key:#x}");
            }
        }
    }

    /// CIDR blocks of a 12-bit space as (first, last), generated by prefix.
    fn cidr_blocks() -> impl Strategy<Value = Vec<(u32, u32, u32)>> {
        prop::collection::vec((0u32..4096, 0u32..=12, 1u32..6), 0..24).prop_map(|raw| {
            raw.into_iter()
                .map(|(addr, len, value)| {
                    let size = 1u32 << (12 - len);
                    let first = addr & !(size - 1);
                    (first, first + size - 1, value)
                })
                .collect()
        })
    }

    /// The smallest block containing `key`; among identical blocks the last given.
    fn longest_prefix(blocks: &[(u32, u32, u32)], key: u32) -> u32 {
        blocks
            .iter()
            .enumerate()
            .filter(|(_, (first, last, _))| *first <= key && key <= *last)
            .min_by_key(|(idx, (first, last, _))| (last - first, std::cmp::Reverse(*idx)))
            .map_or(0, |(_, block)| block.2)
    }

    proptest! {
        #[test]
        fn agrees_with_a_longest_prefix_scan(blocks in cidr_blocks()) {
            let (ranges, trie) = both(blocks.clone(), 0);
            for key in 0u32..4096 {
                let expected = longest_prefix(&blocks, key);
                prop_assert_eq!(ranges.get(key), expected, "ranges at {}", key);
                prop_assert_eq!(trie.get(key), expected, "trie at {}", key);
            }
        }

        #[test]
        fn agrees_with_a_longest_prefix_scan_at_the_top_of_the_ipv6_space(blocks in cidr_blocks()) {
            // The same small space in the top bits, where the direct table splits it.
            let lift = |key: u32| u128::from(key) << 116;
            let lifted = blocks
                .iter()
                .map(|&(first, last, value)| (lift(first), lift(last) | ((1u128 << 116) - 1), value))
                .collect();
            let (ranges, trie) = both(lifted, 0);
            for key in 0u32..4096 {
                let expected = longest_prefix(&blocks, key);
                for probe in [lift(key), lift(key) | 0xffff_ffff] {
                    prop_assert_eq!(ranges.get(probe), expected, "ranges at {}", key);
                    prop_assert_eq!(trie.get(probe), expected, "trie at {}", key);
                }
            }
        }
    }
}

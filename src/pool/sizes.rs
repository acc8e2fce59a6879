//! Size classes: 16-byte steps up to 64 bytes, then four classes per power of
//! two up to 512 KiB. A request lands in the smallest class that holds it, so
//! internal waste is at most 25% of the request above 64 bytes (the worst
//! case is one byte over a class boundary: 65 bytes in the 80-byte class).

/// Number of classes.
pub(crate) const COUNT: usize = 56;
/// Largest size served from a class; larger requests go straight upstream.
pub(crate) const MAX_SIZE: usize = 512 * 1024;

/// A size class: an index into the class table, below [`COUNT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SizeClass(pub(crate) usize);

impl SizeClass {
    /// The class with this index (below [`COUNT`]).
    #[inline(always)]
    pub(crate) const fn from_index(index: usize) -> SizeClass {
        SizeClass(index)
    }

    /// The class's index in the class tables.
    #[inline(always)]
    pub(crate) const fn index(self) -> usize {
        self.0
    }

    /// The class for a payload of `size` bytes; `None` above [`MAX_SIZE`].
    #[inline(always)]
    pub(crate) fn of(size: usize) -> Option<SizeClass> {
        if size <= SMALL_LIMIT {
            return Some(SizeClass(SMALL[(size + 15) >> 4] as usize));
        }
        if size > MAX_SIZE {
            return None;
        }
        Some(SizeClass::of_const(size))
    }

    /// [`SizeClass::of`] computed, for sizes from 1 to [`MAX_SIZE`].
    const fn of_const(size: usize) -> SizeClass {
        if size <= 64 {
            return SizeClass((size - 1) / 16);
        }
        let s = size - 1;
        let power = usize::BITS as usize - 1 - s.leading_zeros() as usize; // >= 6
        let quarter = (s >> (power - 2)) & 3;
        SizeClass(4 + (power - 6) * 4 + quarter)
    }

    /// Payload bytes a block of this class holds (a table lookup: this is
    /// on every allocation and release).
    #[inline]
    pub(crate) fn size(self) -> usize {
        SIZES[self.0]
    }

    /// [`SizeClass::size`], usable in constant tables.
    pub(crate) const fn size_const(self) -> usize {
        let index = self.0;
        if index < 4 {
            return (index + 1) * 16;
        }
        let power = 6 + (index - 4) / 4;
        let quarter = (index - 4) % 4;
        (1 << power) + (quarter + 1) * (1 << (power - 2))
    }
}

/// Classes of the sizes up to this are looked up in [`SMALL`].
const SMALL_LIMIT: usize = 1024;

/// The class of every size up to [`SMALL_LIMIT`], indexed by the size in
/// 16-byte units rounded up (all sizes in one unit share a class there).
static SMALL: [u8; SMALL_LIMIT / 16 + 1] = {
    let mut table = [0u8; SMALL_LIMIT / 16 + 1];
    let mut unit = 1;
    while unit < table.len() {
        table[unit] = SizeClass::of_const(unit * 16).0 as u8;
        unit += 1;
    }
    table
};

static SIZES: [usize; COUNT] = {
    let mut sizes = [0; COUNT];
    let mut index = 0;
    while index < COUNT {
        sizes[index] = SizeClass(index).size_const();
        index += 1;
    }
    sizes
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_fits_its_class_and_not_the_one_below() {
        for size in 0..=MAX_SIZE {
            let class = SizeClass::of(size).unwrap();
            assert!(class.size() >= size, "size {size}");
            if class.0 > 0 {
                assert!(SizeClass(class.0 - 1).size() < size, "size {size}");
            }
        }
        assert_eq!(SizeClass::of(MAX_SIZE).unwrap().0, COUNT - 1);
        assert_eq!(SizeClass(COUNT - 1).size(), MAX_SIZE);
        assert_eq!(SizeClass::of(MAX_SIZE + 1), None);
    }

    #[test]
    fn waste_is_at_most_a_quarter_from_64_bytes_up() {
        for size in 64..=MAX_SIZE {
            let class = SizeClass::of(size).unwrap().size();
            assert!((class - size) * 4 <= size, "size {size} class {class}");
        }
    }
}

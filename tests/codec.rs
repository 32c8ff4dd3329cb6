//! The encoding of keys and rows (`Persist`, `Codec`, `Codecs`).
//!
//! Round trips for every type family, through `Codec::of` and through the
//! codecs that `Codecs::row` composes at run time (which must write the same
//! bytes); and decoding of garbage, which must answer `Ok` or `Err`, never
//! panic, and never allocate much more than the bytes given. The largest
//! single allocation a decode makes is measured by this binary's global
//! allocator, per thread.

use multiverse::{Codec, Codecs, DecodeError, Persist, Tuple};
use proptest::collection::vec;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::Debug;

/// The system allocator, recording the largest request of each thread.
struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: nothing to record while the thread is being torn down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// `GlobalAlloc` contract; `record` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// The largest single allocation `f` makes on this thread.
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, LARGEST.with(Cell::get))
}

fn encode<X: 'static>(codec: &Codec<X>, x: &X) -> Vec<u8> {
    let mut out = Vec::new();
    codec.encode(x, &mut out);
    out
}

/// `x` survives encoding, appended after other bytes; its encoding decodes
/// as itself and nothing else: no strict prefix decodes whole, a trailing
/// byte is left unread.
fn round_trip_by<X: 'static + Debug>(codec: &Codec<X>, x: &X, same: impl Fn(&X, &X) -> bool) {
    let mut out = vec![0xa5, 0x5a];
    codec.encode(x, &mut out);
    assert_eq!(out[..2], [0xa5, 0x5a], "encode appends");
    let bytes = &out[2..];
    let back = codec.decode_all(bytes).unwrap();
    assert!(same(&back, x), "{x:?} came back as {back:?}");
    for k in 0..bytes.len() {
        assert!(
            codec.decode_all(&bytes[..k]).is_err(),
            "{k} of the {} bytes of {x:?} decode",
            bytes.len()
        );
    }
    let mut padded = bytes.to_vec();
    padded.push(7);
    let mut input = &padded[..];
    assert!(same(&codec.decode(&mut input).unwrap(), x));
    assert_eq!(input, [7]);
    assert!(codec.decode_all(&padded).is_err());
}

fn round_trip<X: Persist + PartialEq + Debug>(x: X) {
    round_trip_by(&Codec::<X>::of(), &x, PartialEq::eq);
}

/// A row type's composed codec (from its element's) writes the same bytes
/// as its `Persist` codec, and both read them back.
fn composed_matches_persist<T: Tuple + Persist + PartialEq + Debug>(codecs: &Codecs, x: T) {
    let composed = codecs.row::<T>().expect("a composed codec");
    let persist = Codec::<T>::of();
    assert_eq!(composed.name(), persist.name());
    assert_eq!(composed.name(), T::type_name());
    let bytes = encode(&persist, &x);
    assert_eq!(encode(&composed, &x), bytes, "{x:?}");
    round_trip_by(&composed, &x, PartialEq::eq);
}

/// Decoding `bytes` as `X` answers (no panic) and allocates at most about
/// 64 bytes per input byte, beyond `X` itself.
fn garbage_decodes_safely<X: 'static>(codec: &Codec<X>, bytes: &[u8]) {
    let ((), largest) = largest_allocation(|| {
        let mut input = bytes;
        if codec.decode(&mut input).is_ok() {
            assert!(input.len() <= bytes.len());
        }
        let _ = codec.decode_all(bytes);
    });
    let bound = std::mem::size_of::<X>().max(64 * bytes.len()) + 1024;
    assert!(
        largest <= bound,
        "decoding {} bytes as {} allocated {largest} bytes at once",
        bytes.len(),
        codec.name()
    );
}

fn garbage<X: Persist>(bytes: &[u8]) {
    garbage_decodes_safely(&Codec::<X>::of(), bytes);
}

/// Random bytes, half of them behind a random LEB128 varint (which random
/// bytes alone rarely make large): a length that may claim far more than
/// follows.
fn garbage_bytes() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), any::<u64>(), vec(any::<u8>(), 0..96)).prop_map(|(prefix, mut v, rest)| {
        let mut out = Vec::new();
        if prefix {
            while v >= 0x80 {
                out.push(v as u8 | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        out.extend(rest);
        out
    })
}

#[test]
fn codecs_can_be_shared_between_threads() {
    fn shared<X: Send + Sync + Clone + 'static>(x: X) -> X {
        std::thread::spawn(move || x.clone()).join().unwrap()
    }
    let codecs = shared(Codecs::new());
    let codec = shared(codecs.row::<Vec<String>>().unwrap());
    let row = vec!["a".to_string(), "b".to_string()];
    assert_eq!(codec.decode_all(&encode(&codec, &row)), Ok(row));
}

#[test]
fn type_names_are_the_documented_stable_ones() {
    fn name<X: Persist>() -> String {
        X::type_name()
    }
    let expected = [
        (name::<u8>(), "u8"),
        (name::<u16>(), "u16"),
        (name::<u32>(), "u32"),
        (name::<u64>(), "u64"),
        (name::<u128>(), "u128"),
        (name::<usize>(), "usize"),
        (name::<i8>(), "i8"),
        (name::<i16>(), "i16"),
        (name::<i32>(), "i32"),
        (name::<i64>(), "i64"),
        (name::<i128>(), "i128"),
        (name::<isize>(), "isize"),
        (name::<f32>(), "f32"),
        (name::<f64>(), "f64"),
        (name::<bool>(), "bool"),
        (name::<char>(), "char"),
        (name::<()>(), "()"),
        (name::<String>(), "string"),
        (name::<Vec<u8>>(), "vec<u8>"),
        (name::<Box<[u8]>>(), "box<[u8]>"),
        (name::<[i64; 4]>(), "[i64;4]"),
        (name::<Option<u64>>(), "option<u64>"),
        (name::<(u64, String)>(), "(u64,string)"),
        (name::<(u8, bool, char)>(), "(u8,bool,char)"),
        (
            name::<(i8, Vec<String>, [u16; 2], Option<Box<[u8]>>)>(),
            "(i8,vec<string>,[u16;2],option<box<[u8]>>)",
        ),
    ];
    for (got, want) in expected {
        assert_eq!(got, want);
    }
}

#[test]
fn the_built_in_codecs_are_registered_under_their_names() {
    let codecs = Codecs::new();
    fn registered<X: Persist>(codecs: &Codecs) {
        let c = codecs
            .get::<X>()
            .unwrap_or_else(|| panic!("{} is not registered", X::type_name()));
        assert_eq!(c.name(), X::type_name());
    }
    registered::<u8>(&codecs);
    registered::<u16>(&codecs);
    registered::<u32>(&codecs);
    registered::<u64>(&codecs);
    registered::<u128>(&codecs);
    registered::<usize>(&codecs);
    registered::<i8>(&codecs);
    registered::<i16>(&codecs);
    registered::<i32>(&codecs);
    registered::<i64>(&codecs);
    registered::<i128>(&codecs);
    registered::<isize>(&codecs);
    registered::<f32>(&codecs);
    registered::<f64>(&codecs);
    registered::<bool>(&codecs);
    registered::<char>(&codecs);
    registered::<()>(&codecs);
    registered::<String>(&codecs);
    registered::<Vec<u8>>(&codecs);
    registered::<Box<[u8]>>(&codecs);
    // Generic compounds are not registered: a key of one needs `register`.
    assert!(codecs.get::<Vec<u64>>().is_none());
    assert!(codecs.get::<(u64, u64)>().is_none());
    assert!(codecs.get::<Option<u8>>().is_none());
    assert_eq!(
        Codecs::default().get::<u64>().map(|c| c.name().to_owned()),
        Some("u64".into())
    );
}

#[test]
fn integers_are_little_endian_at_fixed_width_and_lengths_are_leb128() {
    assert_eq!(encode(&Codec::of(), &0x0102_0304u32), [4, 3, 2, 1]);
    assert_eq!(encode(&Codec::of(), &-2i16), [0xfe, 0xff]);
    assert_eq!(encode(&Codec::of(), &1usize), [1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(encode(&Codec::of(), &-1isize), [0xff; 8]);
    assert_eq!(encode(&Codec::of(), &1u128).len(), 16);
    assert_eq!(
        encode(&Codec::of(), &"hé".to_string()),
        [3, b'h', 0xc3, 0xa9]
    );
    assert_eq!(encode(&Codec::of(), &vec![7u8; 300])[..2], [0xac, 0x02]);
    assert_eq!(encode(&Codec::of(), &[1u16, 2]), [1, 0, 2, 0]);
    assert_eq!(encode(&Codec::of(), &Some(true)), [1, 1]);
    assert_eq!(encode(&Codec::<Option<u64>>::of(), &None), [0]);
    assert_eq!(encode(&Codec::of(), &(1u8, 'A')), [1, 0x41, 0, 0, 0]);
}

#[test]
fn invalid_scalars_are_errors() {
    fn fails<X: Persist + Debug>(bytes: &[u8]) {
        let r = Codec::<X>::of().decode_all(bytes);
        assert!(r.is_err(), "{bytes:?} decoded as {r:?}");
    }
    fails::<bool>(&[2]);
    fails::<char>(&0xd800u32.to_le_bytes());
    fails::<char>(&0x11_0000u32.to_le_bytes());
    fails::<String>(&[2, 0xc3, 0x28]);
    fails::<Option<u8>>(&[2, 0]);
    fails::<u64>(&[1, 2, 3]);
    fails::<[u32; 2]>(&[0; 7]);
    fails::<Vec<u8>>(&[0x80]);
}

#[test]
fn a_huge_length_is_an_error_before_any_allocation() {
    // 2^60 elements claimed, 3 bytes follow.
    let mut bytes = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
    bytes.extend([1, 2, 3]);
    let (r, largest) = largest_allocation(|| Codec::<Vec<u64>>::of().decode_all(&bytes));
    assert!(r.is_err());
    assert!(largest < 1024, "allocated {largest} bytes");
    let (r, largest) = largest_allocation(|| Codec::<String>::of().decode_all(&bytes));
    assert!(r.is_err());
    assert!(largest < 1024, "allocated {largest} bytes");
    // 2^40 elements of a type that takes no bytes: refused, not counted out.
    let bytes = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
    assert!(Codec::<Vec<()>>::of().decode_all(&bytes).is_err());
    let codecs = Codecs::new();
    let row = codecs.row::<Vec<u64>>().unwrap();
    let (r, largest) = largest_allocation(|| row.decode_all(&[0xff, 0xff, 0xff, 0x7f, 9]));
    assert!(r.is_err());
    assert!(largest < 1024, "allocated {largest} bytes");
}

#[test]
fn sequences_of_zero_sized_values_round_trip() {
    round_trip(vec![(); 1000]);
    round_trip(vec![[0u8; 0]; 3]);
    round_trip([(); 5]);
    round_trip(Vec::<((), ())>::new());
}

#[test]
fn sequence_rows_need_only_their_element_registered() {
    let mut codecs = Codecs::new();
    assert_eq!(codecs.row::<[i64; 4]>().unwrap().name(), "[i64;4]");
    assert_eq!(codecs.row::<Vec<u64>>().unwrap().name(), "vec<u64>");
    assert_eq!(codecs.row::<Vec<u8>>().unwrap().name(), "vec<u8>");
    assert_eq!(codecs.row::<[String; 3]>().unwrap().name(), "[string;3]");
    assert_eq!(codecs.row::<Vec<String>>().unwrap().name(), "vec<string>");
    assert_eq!(codecs.row::<Box<[u16]>>().unwrap().name(), "box<[u16]>");
    assert!(codecs.row::<[(u8, u8); 2]>().is_none());
    assert!(codecs.row::<Vec<Option<u8>>>().is_none());
    codecs.register::<(u8, u8)>();
    codecs.register::<Option<u8>>();
    composed_matches_persist(&codecs, [(1u8, 2u8), (3, 4)]);
    composed_matches_persist(&codecs, vec![Some(1u8), None]);
    composed_matches_persist(&codecs, vec![Some(9u8)].into_boxed_slice());
}

/// A row type of a user's own, durable once registered.
#[derive(Clone, Debug, PartialEq)]
struct Account {
    owner: String,
    balance: i64,
}

impl Tuple for Account {
    type Delta = Account;
    fn attributes(&self) -> usize {
        2
    }
    fn delta_to(&self, _: &Self) -> Account {
        self.clone()
    }
    fn apply(&mut self, d: &Account) {
        *self = d.clone();
    }
    fn delta_bytes(_: &Account) -> usize {
        std::mem::size_of::<Account>()
    }
}

impl Persist for Account {
    fn type_name() -> String {
        "test.Account.v1".into()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        self.owner.encode(out);
        self.balance.encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        Ok(Account {
            owner: String::decode(input)?,
            balance: i64::decode(input)?,
        })
    }
}

#[test]
fn a_user_row_type_is_durable_once_registered_and_the_last_registration_wins() {
    let mut codecs = Codecs::new();
    assert!(codecs.row::<Account>().is_none());
    assert!(codecs.row::<[Account; 2]>().is_none());
    codecs.register::<Account>();
    let a = Account {
        owner: "ada".into(),
        balance: -3,
    };
    round_trip_by(&codecs.row::<Account>().unwrap(), &a, PartialEq::eq);
    let pair = [a.clone(), a.clone()];
    composed_matches_persist(&codecs, pair);
    // A clone of the registry keeps what was registered; registering a type
    // again replaces its codec.
    let copy = codecs.clone();
    codecs.register::<Vec<u8>>();
    assert_eq!(copy.get::<Account>().unwrap().name(), "test.Account.v1");
    assert!(format!("{copy:?}").contains("test.Account.v1"));
}

fn f64_bits() -> impl Strategy<Value = f64> {
    any::<u64>().prop_map(f64::from_bits)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn integers_round_trip(
        a in any::<u8>(), b in any::<u16>(), c in any::<u32>(), d in any::<u64>(),
        e in any::<u128>(), f in any::<usize>(), g in any::<i8>(), h in any::<i16>(),
        i in any::<i32>(), j in any::<i64>(), k in any::<i128>(), l in any::<isize>(),
    ) {
        round_trip(a); round_trip(b); round_trip(c); round_trip(d);
        round_trip(e); round_trip(f); round_trip(g); round_trip(h);
        round_trip(i); round_trip(j); round_trip(k); round_trip(l);
    }

    #[test]
    fn floats_round_trip_bit_for_bit_nans_included(x in f64_bits(), y in any::<u32>()) {
        round_trip_by(&Codec::of(), &x, |a: &f64, b| a.to_bits() == b.to_bits());
        let y = f32::from_bits(y);
        round_trip_by(&Codec::of(), &y, |a: &f32, b| a.to_bits() == b.to_bits());
        let v = vec![x, f64::NAN, -0.0];
        round_trip_by(&Codec::of(), &v, |a: &Vec<f64>, b| {
            a.iter().map(|f| f.to_bits()).eq(b.iter().map(|f| f.to_bits()))
        });
    }

    #[test]
    fn bools_chars_units_and_strings_round_trip(
        b in any::<bool>(), c in any::<char>(), s in any::<String>(),
    ) {
        round_trip(b);
        round_trip(c);
        round_trip(());
        round_trip(s);
    }

    #[test]
    fn options_vecs_boxes_and_arrays_round_trip(
        o in any::<Option<u64>>(),
        os in any::<Option<String>>(),
        v in vec(any::<u16>(), 0..40),
        bytes in vec(any::<u8>(), 0..300),
        strings in vec(any::<String>(), 0..6),
        nested in vec(vec(any::<u8>(), 0..5), 0..6),
        b in vec(any::<i8>(), 0..20),
        a in any::<[u32; 5]>(),
        sa in any::<[String; 2]>(),
        opts in vec(any::<Option<(u8, String)>>(), 0..5),
    ) {
        round_trip(o);
        round_trip(os);
        round_trip(v);
        round_trip(bytes.clone());
        round_trip(bytes.into_boxed_slice());
        round_trip(strings);
        round_trip(nested);
        round_trip(b.into_boxed_slice());
        round_trip(a);
        round_trip(sa);
        round_trip(opts);
    }

    #[test]
    fn tuples_round_trip(
        p in any::<(u64, String)>(),
        t in any::<(i8, bool, char)>(),
        q in (any::<u128>(), any::<Option<i16>>(), vec(any::<u8>(), 0..8), any::<[bool; 3]>()),
    ) {
        round_trip(p);
        round_trip(t);
        round_trip(q);
    }

    #[test]
    fn composed_row_codecs_write_the_persist_bytes(
        a in any::<[i64; 4]>(),
        v in vec(any::<u64>(), 0..20),
        bytes in vec(any::<u8>(), 0..100),
        sa in any::<[String; 3]>(),
        sv in vec(any::<String>(), 0..5),
        bx in vec(any::<u16>(), 0..10),
        cv in vec(any::<char>(), 0..10),
    ) {
        let codecs = Codecs::new();
        composed_matches_persist(&codecs, a);
        composed_matches_persist(&codecs, v);
        composed_matches_persist(&codecs, bytes.clone());
        composed_matches_persist(&codecs, bytes.into_boxed_slice());
        composed_matches_persist(&codecs, sa);
        composed_matches_persist(&codecs, sv);
        composed_matches_persist(&codecs, bx.into_boxed_slice());
        composed_matches_persist(&codecs, cv);
    }

    #[test]
    fn garbage_never_panics_nor_allocates_much(bytes in garbage_bytes()) {
        garbage::<u64>(&bytes);
        garbage::<usize>(&bytes);
        garbage::<f64>(&bytes);
        garbage::<bool>(&bytes);
        garbage::<char>(&bytes);
        garbage::<String>(&bytes);
        garbage::<Option<u32>>(&bytes);
        garbage::<Vec<u8>>(&bytes);
        garbage::<Vec<u64>>(&bytes);
        garbage::<Vec<String>>(&bytes);
        garbage::<Vec<Vec<u16>>>(&bytes);
        garbage::<Vec<()>>(&bytes);
        garbage::<Box<[i32]>>(&bytes);
        garbage::<[i64; 4]>(&bytes);
        garbage::<[String; 3]>(&bytes);
        garbage::<(u64, String)>(&bytes);
        garbage::<(bool, char, Option<u8>, Vec<()>)>(&bytes);
        garbage::<Vec<(u8, Option<Box<[u8]>>)>>(&bytes);
        let codecs = Codecs::new();
        garbage_decodes_safely(&codecs.row::<[i64; 10]>().unwrap(), &bytes);
        garbage_decodes_safely(&codecs.row::<Vec<String>>().unwrap(), &bytes);
        garbage_decodes_safely(&codecs.row::<Vec<u64>>().unwrap(), &bytes);
        garbage_decodes_safely(&codecs.row::<Box<[u16]>>().unwrap(), &bytes);
        garbage_decodes_safely(&codecs.row::<[String; 2]>().unwrap(), &bytes);
    }
}

#[cfg(feature = "serde")]
mod serde {
    use super::*;
    use std::collections::BTreeMap;

    type Doc = BTreeMap<String, (Vec<u16>, Option<i64>)>;

    #[test]
    fn a_serde_type_registered_with_a_name_is_found_and_composed() {
        let mut codecs = Codecs::new();
        assert!(codecs.get::<Doc>().is_none());
        codecs.register_serde::<Doc>("test.Doc.v1");
        let codec = codecs.get::<Doc>().unwrap();
        assert_eq!(codec.name(), "test.Doc.v1");
        let rows = codecs.row::<Vec<Doc>>().unwrap();
        assert_eq!(rows.name(), "vec<test.Doc.v1>");
        // A serde registration replaces a built-in one.
        codecs.register_serde::<u64>("serde.u64");
        assert_eq!(codecs.get::<u64>().unwrap().name(), "serde.u64");
    }

    fn doc() -> impl Strategy<Value = Doc> {
        proptest::collection::btree_map(
            any::<String>(),
            (vec(any::<u16>(), 0..5), any::<Option<i64>>()),
            0..5,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn serde_values_round_trip_alone_and_in_sequences(d in doc(), ds in vec(doc(), 0..4)) {
            let mut codecs = Codecs::new();
            codecs.register_serde::<Doc>("test.Doc.v1");
            round_trip_by(&codecs.get::<Doc>().unwrap(), &d, PartialEq::eq);
            round_trip_by(&codecs.row::<Vec<Doc>>().unwrap(), &ds, PartialEq::eq);
            let boxed = ds.clone().into_boxed_slice();
            round_trip_by(&codecs.row::<Box<[Doc]>>().unwrap(), &boxed, PartialEq::eq);
            let pair: [Doc; 2] = [d.clone(), d];
            round_trip_by(&codecs.row::<[Doc; 2]>().unwrap(), &pair, PartialEq::eq);
        }

        #[test]
        fn serde_garbage_never_panics_nor_allocates_much(bytes in garbage_bytes()) {
            let mut codecs = Codecs::new();
            codecs.register_serde::<Doc>("test.Doc.v1");
            codecs.register_serde::<Vec<String>>("test.Strings.v1");
            garbage_decodes_safely(&codecs.get::<Doc>().unwrap(), &bytes);
            garbage_decodes_safely(&codecs.get::<Vec<String>>().unwrap(), &bytes);
            garbage_decodes_safely(&codecs.row::<Vec<Doc>>().unwrap(), &bytes);
        }
    }
}

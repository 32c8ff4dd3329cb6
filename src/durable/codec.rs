//! SCAFFOLD (replaced by the `codec` branch).
#![allow(dead_code, missing_docs)]
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    what: &'static str,
}
impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }
}
impl std::error::Error for DecodeError {}

pub trait Persist: Sized + Send + Sync + 'static {
    fn type_name() -> String;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError>;
}
fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError { what: "short" });
    }
    let (a, b) = input.split_at(n);
    *input = b;
    Ok(a)
}
pub(crate) fn write_len(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}
pub(crate) fn read_len(input: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut n = 0u64;
    for i in 0..10 {
        let b = take(input, 1)?[0];
        n |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(DecodeError { what: "varint" })
}
macro_rules! int {
    ($t:ty, $n:expr) => {
        impl Persist for $t {
            fn type_name() -> String {
                $n.into()
            }
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes())
            }
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok(<$t>::from_le_bytes(
                    take(input, std::mem::size_of::<$t>())?.try_into().unwrap(),
                ))
            }
        }
    };
}
int!(u64, "u64");
int!(i64, "i64");
int!(u32, "u32");
int!(u8, "u8");
impl Persist for String {
    fn type_name() -> String {
        "string".into()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len() as u64);
        out.extend_from_slice(self.as_bytes())
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = read_len(input)? as usize;
        String::from_utf8(take(input, n)?.to_vec()).map_err(|_| DecodeError { what: "utf8" })
    }
}
impl<T: Persist> Persist for Vec<T> {
    fn type_name() -> String {
        format!("vec<{}>", T::type_name())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        write_len(out, self.len() as u64);
        for x in self {
            x.encode(out)
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
        let n = read_len(input)? as usize;
        if n > input.len() {
            return Err(DecodeError { what: "len" });
        }
        (0..n).map(|_| T::decode(input)).collect()
    }
}
type Enc<X> = Arc<dyn Fn(&X, &mut Vec<u8>) + Send + Sync>;
type Dec<X> = Arc<dyn Fn(&mut &[u8]) -> Result<X, DecodeError> + Send + Sync>;
pub struct Codec<X> {
    name: Arc<str>,
    enc: Enc<X>,
    dec: Dec<X>,
}
impl<X> Clone for Codec<X> {
    fn clone(&self) -> Self {
        Codec {
            name: self.name.clone(),
            enc: self.enc.clone(),
            dec: self.dec.clone(),
        }
    }
}
impl<X: 'static> Codec<X> {
    pub fn of() -> Self
    where
        X: Persist,
    {
        Codec {
            name: X::type_name().into(),
            enc: Arc::new(|x: &X, o: &mut Vec<u8>| x.encode(o)),
            dec: Arc::new(|i: &mut &[u8]| X::decode(i)),
        }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn encode(&self, x: &X, out: &mut Vec<u8>) {
        (self.enc)(x, out)
    }
    pub fn decode(&self, input: &mut &[u8]) -> Result<X, DecodeError> {
        (self.dec)(input)
    }
    pub fn decode_all(&self, mut bytes: &[u8]) -> Result<X, DecodeError> {
        let x = self.decode(&mut bytes)?;
        if bytes.is_empty() {
            Ok(x)
        } else {
            Err(DecodeError { what: "trailing" })
        }
    }
}
#[derive(Clone)]
pub struct Codecs {
    map: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}
impl Default for Codecs {
    fn default() -> Self {
        Self::new()
    }
}
impl Codecs {
    pub fn new() -> Self {
        let mut c = Codecs {
            map: HashMap::new(),
        };
        c.register::<u64>();
        c.register::<i64>();
        c.register::<u32>();
        c.register::<u8>();
        c.register::<String>();
        c.register::<Vec<u8>>();
        c
    }
    pub fn register<X: Persist>(&mut self) {
        self.map
            .insert(TypeId::of::<X>(), Arc::new(Codec::<X>::of()));
    }
    pub fn get<X: 'static>(&self) -> Option<Codec<X>> {
        self.map
            .get(&TypeId::of::<X>())?
            .downcast_ref::<Codec<X>>()
            .cloned()
    }
    pub fn row<T: crate::Tuple>(&self) -> Option<Codec<T>> {
        T::codec(self)
    }
}
pub(crate) fn array<A: 'static, const N: usize>(e: Codec<A>) -> Codec<[A; N]> {
    let e2 = e.clone();
    Codec {
        name: format!("[{};{}]", e.name(), N).into(),
        enc: Arc::new(move |x: &[A; N], o: &mut Vec<u8>| {
            for a in x {
                e.encode(a, o)
            }
        }),
        dec: Arc::new(move |i: &mut &[u8]| {
            let v: Vec<A> = (0..N).map(|_| e2.decode(i)).collect::<Result<_, _>>()?;
            v.try_into().map_err(|_| DecodeError { what: "n" })
        }),
    }
}
pub(crate) fn vec<A: 'static>(e: Codec<A>) -> Codec<Vec<A>> {
    let e2 = e.clone();
    Codec {
        name: format!("vec<{}>", e.name()).into(),
        enc: Arc::new(move |x: &Vec<A>, o: &mut Vec<u8>| {
            write_len(o, x.len() as u64);
            for a in x {
                e.encode(a, o)
            }
        }),
        dec: Arc::new(move |i: &mut &[u8]| {
            let n = read_len(i)? as usize;
            if n > i.len() {
                return Err(DecodeError { what: "len" });
            }
            (0..n).map(|_| e2.decode(i)).collect()
        }),
    }
}

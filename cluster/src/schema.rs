//! The cluster's tables: declared when the cluster is built, created on
//! every partition, and applied from encoded writes on replay.

use std::any::Any;
use std::marker::PhantomData;

use multiverse::{Database, Key, Persist, Table, Transaction, Tuple};

use crate::error::{Error, Result};

/// A table's part on one partition, without its types: applies an encoded
/// write (replay, and the claims of a prepare after a restart).
pub(crate) trait PartTable: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn apply(&self, tx: &mut Transaction, key: &[u8], row: Option<&[u8]>) -> Result<(), String>;
}

/// A table's declaration, without its types.
pub(crate) trait TableDef: Send + Sync {
    fn name(&self) -> &str;
    /// `name:key type:row type` (the stable names of `Persist`).
    fn signature(&self) -> String;
    fn create(&self, db: &Database) -> Result<Box<dyn PartTable>>;
}

struct Def<K, T> {
    name: String,
    types: PhantomData<fn() -> (K, T)>,
}

/// A table's part on one partition's engine (of one incarnation: a
/// restart makes new ones).
pub(crate) struct Part<K: Key, T: Tuple> {
    pub table: Table<K, T>,
}

impl<K: Key + Persist, T: Tuple + Persist> TableDef for Def<K, T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> String {
        format!("{}:{}:{}", self.name, K::type_name(), T::type_name())
    }

    fn create(&self, db: &Database) -> Result<Box<dyn PartTable>> {
        let table = db.create_table::<K, T>(&self.name)?;
        Ok(Box::new(Part { table }))
    }
}

impl<K: Key + Persist, T: Tuple + Persist> PartTable for Part<K, T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn apply(&self, tx: &mut Transaction, key: &[u8], row: Option<&[u8]>) -> Result<(), String> {
        let key = decode::<K>(key)?;
        match row {
            Some(row) => tx.upsert(&self.table, key, decode::<T>(row)?).map(|_| ()),
            None => match tx.delete(&self.table, &key) {
                Err(multiverse::Error::NotFound) => Ok(()),
                r => r,
            },
        }
        .map_err(|e| format!("applying a write: {e}"))
    }
}

fn decode<X: Persist>(mut bytes: &[u8]) -> Result<X, String> {
    let x = X::decode(&mut bytes).map_err(|e| format!("decoding {}: {e}", X::type_name()))?;
    if !bytes.is_empty() {
        return Err(format!("{} bytes after a {}", bytes.len(), X::type_name()));
    }
    Ok(x)
}

/// The cluster's schema.
#[derive(Default)]
pub(crate) struct Schema {
    pub defs: Vec<Box<dyn TableDef>>,
}

impl Schema {
    pub fn add<K: Key + Persist, T: Tuple + Persist>(&mut self, name: &str) -> Result<()> {
        if self.defs.iter().any(|d| d.name() == name) {
            return Err(Error::InvalidArgument(format!(
                "table {name:?} declared twice"
            )));
        }
        self.defs.push(Box::new(Def::<K, T> {
            name: name.to_owned(),
            types: PhantomData,
        }));
        Ok(())
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.defs.iter().position(|d| d.name() == name)
    }

    /// Every table's signature, in declaration order.
    pub fn signatures(&self) -> Vec<String> {
        self.defs.iter().map(|d| d.signature()).collect()
    }

    pub fn create(&self, db: &Database) -> Result<Vec<Box<dyn PartTable>>> {
        self.defs.iter().map(|d| d.create(db)).collect()
    }
}

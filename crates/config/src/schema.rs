//! The shape of a raw config type — which keys each of its tables has, which tables are maps
//! and which values arrays — read from the type itself: serde's derived code is run once
//! against a probe that offers every field, so the keys expected at a path are exactly the
//! fields serde would accept there.

use std::collections::BTreeMap;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, Visitor};

/// A pattern of key paths in a raw type: field names, [`ANY_KEY`] for the key of a map,
/// [`ELEMENT`] for an array's element.
pub(crate) type Pattern = Vec<&'static str>;

/// The key of a map (domains, reasons, approvals …) in a [`Pattern`].
pub(crate) const ANY_KEY: &str = "*";
/// An array's element in a [`Pattern`].
pub(crate) const ELEMENT: &str = "[]";

/// What a raw type wants at a key path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A struct: a table with these keys.
    Table(&'static [&'static str]),
    /// A map: a table whose keys the site chooses.
    Map,
    /// An array.
    Array,
}

/// The shapes of a raw type, by key path pattern; a pattern without a shape is a plain value.
#[derive(Debug, Default)]
pub(crate) struct Schema(BTreeMap<Pattern, Shape>);

impl Schema {
    /// The schema of `T`. A type the probe cannot describe (a tuple, an enum with data) ends
    /// its branch of the schema there; its values are then checked by serde alone.
    pub(crate) fn of<T: DeserializeOwned>() -> Schema {
        let mut schema = Schema::default();
        let _ = T::deserialize(Probe {
            at: Vec::new(),
            schema: &mut schema,
        });
        schema
    }

    /// The keys of the top-level table, in declaration order.
    pub(crate) fn top_level_keys(&self) -> &'static [&'static str] {
        match self.0.get(&Vec::new()) {
            Some(Shape::Table(fields)) => fields,
            _ => &[],
        }
    }

    /// The shape at `at`; `None` for a plain value.
    pub(crate) fn shape(&self, at: &[&'static str]) -> Option<Shape> {
        self.0.get(at).copied()
    }

    /// The shape of an array's elements at `at`.
    pub(crate) fn shape_below(&self, at: &[&'static str]) -> Option<Shape> {
        let mut element = at.to_vec();
        element.push(ELEMENT);
        self.shape(&element)
    }
}

/// A deserializer that offers every field of every struct once, recording the shapes it is
/// asked for; values are zero, empty or the first variant.
struct Probe<'a> {
    at: Pattern,
    schema: &'a mut Schema,
}

impl Probe<'_> {
    fn record(&mut self, shape: Shape) {
        self.schema.0.insert(self.at.clone(), shape);
    }

    fn below(&mut self, key: &'static str) -> Probe<'_> {
        let mut at = self.at.clone();
        at.push(key);
        Probe {
            at,
            schema: self.schema,
        }
    }
}

type ProbeError = de::value::Error;

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_bool(false)
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_i64(0)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_i64(0)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_i64(0)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_i64(0)
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_u64(0)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_u64(0)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_u64(0)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_u64(0)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_f64(0.0)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_char(' ')
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_str("")
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_bytes(&[])
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_bytes(&[])
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Shape::Array);
        visitor.visit_seq(OneElement(Some(self)))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }

    fn deserialize_map<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Shape::Map);
        visitor.visit_map(Entries {
            probe: self,
            keys: &[ANY_KEY],
            next: 0,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        self.record(Shape::Table(fields));
        visitor.visit_map(Entries {
            probe: self,
            keys: fields,
            next: 0,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        match variants.first() {
            Some(first) => visitor.visit_enum(StrDeserializer::<ProbeError>::new(first)),
            None => Err(de::Error::custom("an enum without variants")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_str("")
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_unit()
    }
}

/// A struct's fields (or a map's one key), each with a probe for its value.
struct Entries<'a> {
    probe: Probe<'a>,
    keys: &'static [&'static str],
    next: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        let Some(key) = self.keys.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        seed.deserialize(StrDeserializer::<ProbeError>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ProbeError> {
        match self.next.checked_sub(1).and_then(|i| self.keys.get(i)) {
            Some(key) => seed.deserialize(self.probe.below(key)),
            None => Err(de::Error::custom("a value before its key")),
        }
    }
}

/// An array of one element.
struct OneElement<'a>(Option<Probe<'a>>);

impl<'de> de::SeqAccess<'de> for OneElement<'_> {
    type Error = ProbeError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProbeError> {
        match self.0.take() {
            Some(mut probe) => seed.deserialize(probe.below(ELEMENT)).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RawConfig;

    #[test]
    fn the_schema_comes_from_the_raw_types() {
        let schema = Schema::of::<RawConfig>();
        assert_eq!(
            schema.top_level_keys(),
            [
                "server",
                "relay",
                "analysis",
                "log",
                "scan",
                "quarantine",
                "policy",
                "notify",
                "policyd"
            ]
        );
        assert_eq!(schema.shape(&["policy", "domains"]), Some(Shape::Map));
        assert!(matches!(
            schema.shape(&["policy", "domains", ANY_KEY, "inbound"]),
            Some(Shape::Map)
        ));
        assert!(matches!(
            schema.shape(&["scan", "command", ELEMENT]),
            Some(Shape::Table(fields)) if fields.contains(&"virus_regex")
        ));
        assert_eq!(schema.shape(&["server", "listen"]), None, "a plain value");
    }
}

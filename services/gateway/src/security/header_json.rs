//! The header's JSON, decoded the way obshell decodes it: Go's
//! `encoding/json` into `secure.HttpHeader` (`ob/agent/secure/header.go`,
//! through `ob/agent/lib/json`, a `json.Decoder` reading one value).
//!
//! What that accepts, and so what obup accepts:
//! - keys match the Go field names case-insensitively (`auth`, `Auth`,
//!   `AUTH`), or the tags `session_id` and `ssotoken`; unknown keys are
//!   ignored; a repeated key (in any case) takes its last value;
//! - `null` leaves a field at its zero value. obshell's Go SDK
//!   (`obshell-sdk-go`, `sdk/auth/passwod_v2.go`) marshals a nil `Keys` as
//!   `"Keys": null` on every request without a body;
//! - `Keys` is a `[]byte`: a base64 string (or a JSON array of bytes);
//! - any other type is an error: a number `Ts` is refused, as obshell
//!   refuses it, and so is `"ForwardType": "1"`;
//! - only the first JSON value counts; a top-level `null` is an empty
//!   header.

use std::fmt;

use base64::Engine;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

/// The fields of `secure.HttpHeader` obup uses; the others are checked for
/// their type and dropped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderJson {
    pub auth: String,
    pub ts: String,
    pub uri: String,
    pub keys: Vec<u8>,
}

impl HeaderJson {
    /// Decodes the decrypted header bytes; the error says what Go would
    /// have refused.
    pub fn decode(plain: &[u8]) -> Result<Self, String> {
        let mut values = serde_json::Deserializer::from_slice(plain).into_iter::<Decoded>();
        match values.next() {
            Some(Ok(Decoded(h))) => Ok(h),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("EOF".into()),
        }
    }
}

/// Newtype so that `HeaderJson` itself keeps a plain shape.
struct Decoded(HeaderJson);

impl<'de> de::Deserialize<'de> for Decoded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeaderVisitor).map(Decoded)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = HeaderJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object (Go struct secure.HttpHeader)")
    }

    fn visit_unit<E: de::Error>(self) -> Result<HeaderJson, E> {
        Ok(HeaderJson::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderJson, A::Error> {
        let mut h = HeaderJson::default();
        while let Some(key) = map.next_key::<String>()? {
            let Some(field) = Field::named(&key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let value: Value = map.next_value()?;
            field.apply(&mut h, value).map_err(de::Error::custom)?;
        }
        Ok(h)
    }
}

/// The fields of `secure.HttpHeader`, with their Go types.
#[derive(Debug, Clone, Copy)]
enum Field {
    SessionId,
    Auth,
    Ts,
    Token,
    SsoToken,
    Uri,
    Keys,
    Sha256,
    ForwardType,
    ForwardAgent,
}

impl Field {
    /// Go's rule: the tag or field name, compared without case.
    fn named(key: &str) -> Option<Self> {
        const NAMES: [(&str, Field); 10] = [
            ("session_id", Field::SessionId),
            ("auth", Field::Auth),
            ("ts", Field::Ts),
            ("token", Field::Token),
            ("ssotoken", Field::SsoToken),
            ("uri", Field::Uri),
            ("keys", Field::Keys),
            ("sha256", Field::Sha256),
            ("forwardtype", Field::ForwardType),
            ("forwardagent", Field::ForwardAgent),
        ];
        let key = key.to_lowercase();
        NAMES.iter().find(|(n, _)| *n == key).map(|(_, f)| *f)
    }

    fn apply(self, h: &mut HeaderJson, v: Value) -> Result<(), String> {
        if v.is_null() {
            return Ok(());
        }
        match self {
            Self::Auth => h.auth = go_string(self, v)?,
            Self::Ts => h.ts = go_string(self, v)?,
            Self::Uri => h.uri = go_string(self, v)?,
            Self::Keys => h.keys = go_bytes(v)?,
            Self::SessionId | Self::Token | Self::SsoToken | Self::Sha256 => {
                go_string(self, v)?;
            }
            Self::ForwardType => go_int(self, &v)?,
            Self::ForwardAgent => go_agent_info(v)?,
        }
        Ok(())
    }
}

fn mismatch(field: impl fmt::Debug, found: &Value, want: &str) -> String {
    let kind = match found {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("cannot unmarshal {kind} into Go struct field HttpHeader.{field:?} of type {want}")
}

fn go_string(field: Field, v: Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(mismatch(field, &other, "string")),
    }
}

/// Go's `int` takes an integer literal only (`1.0` and `1e3` are refused).
fn go_int(field: impl fmt::Debug, v: &Value) -> Result<(), String> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(()),
        other => Err(mismatch(field, other, "int")),
    }
}

/// `[]byte`: base64 (standard alphabet, padded; Go skips `\r` and `\n`),
/// or an array of numbers 0..=255.
fn go_bytes(v: Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => {
            let clean: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| format!("illegal base64 data in Keys: {e}"))
        }
        Value::Array(items) => items
            .iter()
            .map(|i| match i.as_u64().and_then(|n| u8::try_from(n).ok()) {
                Some(b) => Ok(b),
                None => Err(mismatch(Field::Keys, i, "uint8")),
            })
            .collect(),
        other => Err(mismatch(Field::Keys, &other, "[]uint8")),
    }
}

/// `meta.AgentInfo{Ip string "ip"; Port int "port"}`.
fn go_agent_info(v: Value) -> Result<(), String> {
    let Value::Object(fields) = v else {
        return Err(mismatch(Field::ForwardAgent, &v, "meta.AgentInfo"));
    };
    for (key, value) in fields {
        match key.to_lowercase().as_str() {
            _ if value.is_null() => {}
            "ip" if !value.is_string() => {
                return Err(mismatch("ForwardAgent.ip", &value, "string"));
            }
            "port" => go_int("ForwardAgent.port", &value)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_b64() -> String {
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }

    #[test]
    fn takes_what_go_takes() {
        let k = keys_b64();
        let cases = [
            // The Python SDK's shape.
            format!(r#"{{"auth": "pw", "ts": "100", "uri": "/u", "keys": "{k}"}}"#),
            // The Go SDK's: field names, a body.
            format!(r#"{{"Auth":"pw","Ts":"100","Uri":"/u","Keys":"{k}"}}"#),
            // Other cases, unknown keys, obshell's own fields, a repeated key.
            format!(
                r#"{{"AUTH":"x","auth":"pw","tS":"100","URI":"/u","kEyS":"{k}","Token":"",
                "session_id":"","ForwardType":2,"ForwardAgent":{{"ip":"1.2.3.4","port":2886}},"extra":[1]}}"#
            ),
            // Trailing bytes after the first value are not read.
            format!(r#"{{"Auth":"pw","Ts":"100","Uri":"/u","Keys":"{k}"}} trailing"#),
        ];
        for case in cases {
            let h = HeaderJson::decode(case.as_bytes()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(
                (h.auth.as_str(), h.ts.as_str(), h.uri.as_str()),
                ("pw", "100", "/u")
            );
            assert_eq!(h.keys, vec![7u8; 32], "{case}");
        }
    }

    #[test]
    fn null_and_absent_fields_are_zero_values() {
        for case in [
            r#"{"Auth":"pw","Ts":"100","Uri":"/u","Keys":null}"#,
            r#"{"Auth":"pw","Ts":"100","Uri":"/u"}"#,
            r#"{"Auth":"pw","Ts":"100","Uri":"/u","Keys":null,"ForwardAgent":null,"Token":null}"#,
        ] {
            let h = HeaderJson::decode(case.as_bytes()).unwrap();
            assert_eq!((h.auth.as_str(), h.keys.len()), ("pw", 0), "{case}");
        }
        assert_eq!(HeaderJson::decode(b"null").unwrap(), HeaderJson::default());
        assert_eq!(
            HeaderJson::decode(br#"{"Keys":[1,2,255]}"#).unwrap().keys,
            vec![1, 2, 255]
        );
    }

    #[test]
    fn refuses_what_go_refuses() {
        let cases = [
            (r#"{"Ts":100}"#, "number into Go struct field HttpHeader.Ts"),
            (r#"{"auth":1}"#, "HttpHeader.Auth of type string"),
            (r#"{"Keys":"not base64!"}"#, "illegal base64"),
            (r#"{"Keys":12}"#, "HttpHeader.Keys"),
            (r#"{"Keys":[256]}"#, "uint8"),
            (
                r#"{"ForwardType":"1"}"#,
                "HttpHeader.ForwardType of type int",
            ),
            (r#"{"ForwardType":1.5}"#, "of type int"),
            (r#"{"ForwardAgent":"a"}"#, "meta.AgentInfo"),
            (r#"{"ForwardAgent":{"port":"1"}}"#, "ForwardAgent.port"),
            (r#""a string""#, "a JSON object"),
            (r#"[1]"#, "a JSON object"),
            (r#"{"Auth":"pw""#, "EOF"),
            ("", "EOF"),
        ];
        for (case, why) in cases {
            let e = HeaderJson::decode(case.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{case}: {e}");
        }
    }
}

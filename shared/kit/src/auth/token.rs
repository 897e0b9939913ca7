//! The token format and the `authorization` header.
//!
//! A token is `obup_` and 43 base64url characters (32 random bytes): long
//! enough that guessing is hopeless, so a fast hash (SHA-256) suffices to
//! store it; a slow password hash would cost every call milliseconds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::AuthError;

const PREFIX: &str = "obup_";
/// Longest `authorization` value looked at: anything longer is refused
/// before it is hashed or looked up.
pub const MAX_TOKEN_LEN: usize = 256;

/// A token's secret. Shown once when made; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// SHA-256 of a token: what is stored and looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl Token {
    /// A new random token.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Takes a token as a user gives it (file, flag, environment), trimmed.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let s = s.trim();
        if s.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed("the token is too long"));
        }
        if !s.starts_with(PREFIX) || s.len() == PREFIX.len() {
            return Err(AuthError::Malformed("an obup token starts with obup_"));
        }
        if !s[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(AuthError::Malformed(
                "a token holds only letters, digits, - and _",
            ));
        }
        Ok(Token(s.to_owned()))
    }

    pub fn secret(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// The token of an `authorization` header value, `Bearer <token>`.
pub fn bearer(value: Option<&[u8]>) -> Result<Token, AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    if value.len() > MAX_TOKEN_LEN + 7 {
        return Err(AuthError::Malformed("the authorization header is too long"));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| AuthError::Malformed("the authorization header is not text"))?;
    let (scheme, rest) = value
        .split_once(' ')
        .ok_or(AuthError::Malformed("expected `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed("expected the Bearer scheme"));
    }
    Token::parse(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_and_hashes_stably() {
        let t = Token::generate();
        assert_eq!(t.secret().len(), PREFIX.len() + 43);
        let again = Token::parse(t.secret()).unwrap();
        assert_eq!(again.hash(), t.hash());
        assert_ne!(Token::generate().hash(), t.hash());
        assert_eq!(format!("{t:?}"), "Token(..)");
    }

    #[test]
    fn headers_that_are_not_a_bearer_token_are_refused_by_kind() {
        let t = Token::generate();
        let ok = format!("Bearer {}", t.secret());
        assert_eq!(bearer(Some(ok.as_bytes())).unwrap(), t);
        let lower = format!("bearer {}", t.secret());
        assert!(bearer(Some(lower.as_bytes())).is_ok());
        assert_eq!(bearer(None), Err(AuthError::Missing));
        for bad in [
            t.secret().to_owned(),
            format!("Basic {}", t.secret()),
            "Bearer ".to_owned(),
            "Bearer xyz".to_owned(),
            "Bearer obup_a b".to_owned(),
            format!("Bearer obup_{}", "a".repeat(MAX_TOKEN_LEN)),
        ] {
            assert!(
                matches!(bearer(Some(bad.as_bytes())), Err(AuthError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            bearer(Some(&[b'B', 0xff])),
            Err(AuthError::Malformed(_))
        ));
    }
}

/// A tonic interceptor that sends a token as `authorization: Bearer ...`
/// (or nothing, for a service that checks nobody).
#[derive(Clone, Default)]
pub struct BearerInterceptor {
    value: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl std::fmt::Debug for BearerInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.value.is_some() {
            "BearerInterceptor(..)"
        } else {
            "BearerInterceptor(none)"
        })
    }
}

impl BearerInterceptor {
    pub fn new(token: Option<&Token>) -> Self {
        Self {
            value: token.map(|t| {
                let mut v: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
                    format!("Bearer {}", t.secret())
                        .parse()
                        .expect("a parsed token is ASCII without control characters");
                // Kept out of HPACK's dynamic table and of debug output.
                v.set_sensitive(true);
                v
            }),
        }
    }

    /// Adds the header to `metadata` (for interceptors that do more).
    pub fn apply(&self, metadata: &mut tonic::metadata::MetadataMap) {
        if let Some(v) = &self.value {
            metadata.insert("authorization", v.clone());
        }
    }
}

impl tonic::service::Interceptor for BearerInterceptor {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        self.apply(request.metadata_mut());
        Ok(request)
    }
}

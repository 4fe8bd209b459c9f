//! A JWKS document's verifying keys, each pinned to the algorithms it may check.

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use super::JwksError;

/// One verifying key.
pub(super) struct Key {
    /// The JWK's `kid`; `None` for the HS256 secret and for JWKs without one.
    pub(super) kid: Option<String>,
    /// The algorithms a token checked with this key may use: the JWK's `alg` when it names
    /// one, else those of its key type and curve. Never an HMAC one for a public key, which is
    /// what stops an HS256 token signed with the public key as its secret.
    pub(super) algorithms: Vec<Algorithm>,
    /// The key.
    pub(super) key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself stays out of logs (for HS256 it is the secret).
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// The keys of a JWKS document.
#[derive(Debug, Default)]
pub(super) struct KeySet {
    keys: Vec<Arc<Key>>,
}

/// The document's shape; each key is parsed on its own so one this crate does not know
/// (another `kty`, an encryption key) is skipped instead of failing the whole set.
#[derive(Deserialize)]
struct Document {
    keys: Vec<Value>,
}

impl KeySet {
    /// The signing keys of a JWKS document (`{"keys": [...]}`); an error when it is not one
    /// or holds no key this authenticator can use.
    pub(super) fn parse(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let document: Document =
            serde_json::from_slice(bytes).map_err(|e| JwksError::Invalid(e.to_string()))?;
        let keys: Vec<Arc<Key>> = document
            .keys
            .into_iter()
            .filter_map(|value| match key(value) {
                Ok(key) => Some(Arc::new(key)),
                Err(why) => {
                    tracing::warn!(%why, "JWKS: a key is skipped");
                    None
                }
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys);
        }
        Ok(KeySet { keys })
    }

    /// How many keys the set has.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key a token with `kid` and `alg` is checked with: the one with that `kid`, or,
    /// for a token without `kid`, the set's only key for `alg` (with several, the token
    /// cannot say which and is refused).
    pub(super) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<Arc<Key>> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.algorithms.contains(&alg))
                .cloned(),
            None => {
                let mut fits = self.keys.iter().filter(|k| k.algorithms.contains(&alg));
                match (fits.next(), fits.next()) {
                    (Some(key), None) => Some(Arc::clone(key)),
                    _ => None,
                }
            }
        }
    }
}

/// One JWK as a verifying key, or why it cannot be one.
fn key(value: Value) -> Result<Key, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let kid = jwk.common.key_id.clone();
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return Err(format!("{kid:?} is not a signing key (`use`)"));
    }
    let by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return Err(format!("{kid:?}: unsupported curve")),
        },
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            &[Algorithm::EdDSA]
        }
        AlgorithmParameters::OctetKeyPair(_) => return Err(format!("{kid:?}: unsupported curve")),
        // A shared secret published next to public keys is a configuration mistake; the
        // HS256 secret is configured on its own (`JwtAuthenticator::hs256`).
        AlgorithmParameters::OctetKey(_) => {
            return Err(format!("{kid:?} is a symmetric key (`oct`)"))
        }
    };
    let algorithms = match jwk.common.key_algorithm {
        None => by_type.to_vec(),
        Some(named) => match algorithm(named).filter(|a| by_type.contains(a)) {
            Some(a) => vec![a],
            None => return Err(format!("{kid:?}: `alg` {named} does not fit its key")),
        },
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("{kid:?}: {e}"))?;
    Ok(Key {
        kid,
        algorithms,
        key,
    })
}

/// The signature algorithm a JWK's `alg` names (`None` for an encryption one).
fn algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    named.to_string().parse().ok()
}

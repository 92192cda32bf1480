//! The typed request of each operation, as every dialect's parser produces it (see
//! [`crate::wire`]). Field values are parsed and checked for shape; the rules (chain,
//! store, signatures) are the operations' business.

use alloy_primitives::B256;
use serde_json::Value;

use crate::address::Address;
use crate::signed_request::SignedClaim;

/// `GET /api/services/download`.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadRequest {
    /// The asset.
    pub did: String,
    /// Its access service.
    pub service_id: String,
    /// Which of the service's files.
    pub file_index: usize,
    /// The order (`startOrder` or `reuseOrder`) transaction.
    pub transfer_tx: B256,
    /// The consumer and their proof.
    pub claim: SignedClaim,
    /// Values for the file's parameters (smart-contract and templated files).
    pub userdata: Option<Value>,
    /// The client's `Range` header, forwarded to the origin.
    pub range: Option<String>,
}

/// `GET /api/services/initialize`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeRequest {
    /// The asset.
    pub did: String,
    /// Its access service.
    pub service_id: String,
    /// The consumer the fee is quoted for.
    pub consumer: Address,
    /// An existing order to check instead of quoting.
    pub transfer_tx: Option<B256>,
    /// A file to check for reachability before quoting.
    pub file_index: Option<usize>,
    /// Values for the file's parameters.
    pub userdata: Option<Value>,
}

/// `GET /api/services/nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceRequest {
    /// Whose nonce.
    pub address: Address,
}

/// `POST /api/services/encrypt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptRequest<'a> {
    /// The chain whose provider key encrypts (as sent: id or name).
    pub chain: String,
    /// The document (the whole request body).
    pub document: &'a [u8],
}

/// `createAuthToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTokenRequest {
    /// The owner and their signature (tokens cannot vouch for new tokens).
    pub claim: SignedClaim,
    /// Unix seconds when the token stops working.
    pub expiration: u64,
}

/// `deleteAuthToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTokenRequest {
    /// The owner and their signature.
    pub claim: SignedClaim,
    /// The token to revoke.
    pub token: String,
}

/// Which files `fileinfo` describes.
#[derive(Debug, Clone, PartialEq)]
pub enum FileInfoSource {
    /// The files of a published service (URLs never appear in the answer).
    Service {
        /// The asset.
        did: String,
        /// Its service.
        service_id: String,
    },
    /// One file object given by the caller.
    Object(serde_json::Map<String, Value>),
}

/// `POST /api/services/fileinfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfoRequest {
    /// The files.
    pub source: FileInfoSource,
    /// Whether to hash each file (up to `max_checksum_length`).
    pub checksum: bool,
    /// Values for the files' parameters.
    pub userdata: Option<Value>,
}

/// `GET /api/services/assetUrls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetUrlsRequest {
    /// The asset.
    pub did: String,
    /// Its service.
    pub service_id: String,
    /// The publisher and their proof.
    pub claim: SignedClaim,
}

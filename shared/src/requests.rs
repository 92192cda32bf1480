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
    /// Compute-to-data only: the job the dataset is fetched for (optional; without it
    /// any running job of the order's payer that uses the dataset counts).
    pub job_id: Option<String>,
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
    /// The caller and their proof (Ocean Node dialect; v2 encrypt is unsigned).
    pub claim: Option<SignedClaim>,
}

/// `createAuthToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTokenRequest {
    /// The owner and their signature (tokens cannot vouch for new tokens).
    pub claim: SignedClaim,
    /// Unix seconds when the token stops working (`None`: the configured default
    /// lifetime from now; Ocean Node clients send no expiry).
    pub expiration: Option<u64>,
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

/// Where the document to decrypt comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptSource {
    /// The data NFT's metadata event in this transaction.
    Transaction(B256),
    /// Given inline, as the NFT stores it.
    Inline(crate::asset::metadata::StoredDocument),
}

/// `POST /api/services/decrypt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptRequest {
    /// The decrypter (usually a metadata cache) and their proof.
    pub claim: SignedClaim,
    /// The chain (as sent: id or name).
    pub chain: String,
    /// The data NFT.
    pub nft: Address,
    /// The document.
    pub source: DecryptSource,
}

/// `POST /api/services/initializeCompute`. The dataset and algorithm objects keep their
/// JSON shape: the compute workflow rules check them field by field, with the
/// reference's refusal codes.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeComputeRequest {
    /// The consumer the fees are quoted for.
    pub consumer: Address,
    /// The datasets (`documentId`, `serviceId`, optional `transferTxId`, `userdata`).
    pub datasets: Vec<Value>,
    /// The algorithm (`documentId` + `serviceId`, or `meta`).
    pub algorithm: Value,
    /// The compute environment.
    pub environment: String,
    /// Unix seconds until which the job may run.
    pub valid_until: u64,
}

/// `POST /api/services/compute`: start a job.
#[derive(Debug, Clone, PartialEq)]
pub struct StartComputeRequest {
    /// The consumer and their proof.
    pub claim: SignedClaim,
    /// The main dataset, then the additional ones.
    pub datasets: Vec<Value>,
    /// The algorithm.
    pub algorithm: Value,
    /// The compute environment.
    pub environment: String,
    /// Where results go (`None`: the default).
    pub output: Option<Value>,
}

/// Whom a job call names, and how much of the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSelector {
    /// One job (else all of the owner's).
    pub job_id: Option<String>,
    /// The jobs of one dataset.
    pub document_id: Option<String>,
}

/// `GET /api/services/compute`: job status (unsigned, as in the reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeStatusRequest {
    /// The owner.
    pub consumer: Address,
    /// Which jobs.
    pub jobs: JobSelector,
}

/// `PUT`/`DELETE /api/services/compute`: stop or delete jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeControlRequest {
    /// Stop or delete.
    pub delete: bool,
    /// The owner and their proof.
    pub claim: SignedClaim,
    /// Which jobs.
    pub jobs: JobSelector,
}

/// `GET /api/services/computeResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeResultRequest {
    /// The owner and their proof (the signature is forwarded to the operator).
    pub claim: SignedClaim,
    /// The job.
    pub job_id: String,
    /// Which result file (as sent).
    pub index: String,
    /// The client's `Range`, forwarded to the operator.
    pub range: Option<String>,
}

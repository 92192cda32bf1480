//! Assets: resolving DDOs from the metadata cache, their services and file objects,
//! and fetching files safely.

pub mod consumable;
pub mod ddo;
pub mod fetch;
pub mod files;
pub mod metadata;

use crate::chain::network_name;
use crate::config::Chain;
use crate::ports::Platform;
use crate::{ProviderError, Result};
use ddo::{Ddo, resolve_ddo};

/// The asset, its service and chain for `did` + `serviceId`, with the reference's
/// messages.
pub fn resolve_service<'p>(
    platform: &'p Platform<'_>,
    did: &str,
    service_id: &str,
) -> Result<(Ddo, usize, &'p Chain)> {
    let chains = platform.settings.chains()?;
    let ddo = resolve_ddo(platform, did, platform.settings.request_timeout()?)?;
    let chain_id = ddo.chain_id.unwrap_or(0);
    let net = network_name(chain_id);
    let (index, _) = ddo
        .service(service_id)
        .ok_or_else(|| ProviderError::BadRequest(format!("Provider {net}: Invalid serviceId.")))?;
    let chain = chains.get(chain_id).ok_or_else(|| {
        ProviderError::BadRequest(format!("Provider {net}: Unable to get dataset files"))
    })?;
    Ok((ddo, index, chain))
}

//! Assets: resolving DDOs from the metadata cache, their services and file objects,
//! and fetching files safely.

pub mod consumable;
pub mod ddo;
pub mod fetch;
pub mod files;

//! The wire edges: what a client sends, parsed once into the typed request of an
//! operation ([`crate::requests`]). A dialect is a parser (and the renderer of its
//! answers); the operations and the rules below them never see the parameter bag, so
//! they do not know which dialect called them.
//!
//! - [`v2`]: the Python Provider v2 dialect (ocean.py 3.x, ocean.js ≤ 3.4), with the
//!   reference's validation messages and signed messages. On the paths both dialects
//!   share, its parsers also accept the Ocean Node messages (the signature decides).
//! - [`node`]: what only the Ocean Node dialect sends (ocean.js 8.x, the Ocean Node
//!   indexer): signed encrypt, the token endpoints, the compute bodies.

pub mod node;
pub mod v2;

//! The contract calls and events the provider reads (spec §4.2), declared once with
//! `sol!` so encoding, decoding and topic hashes come from alloy, not from hand-written
//! ABI code.

alloy_sol_types::sol! {
    /// ERC721Template (data NFT): metadata and its state.
    function getMetaData() external view returns (string decryptorUrl, string decryptorAddress, uint8 state, bool hasMetaData);
    /// ERC721Template: whether `datatoken` was deployed by this NFT.
    function isDeployed(address datatoken) external view returns (bool deployed);
    /// ERC721Template: the owner of token id 1 (the data NFT's owner).
    function ownerOf(uint256 tokenId) external view returns (address owner);
    /// ERC721Factory: maps an NFT deployed by the factory to itself, anything else to 0.
    function erc721List(address nft) external view returns (address registered);
    /// ERC20: decimals of a fee token.
    function decimals() external view returns (uint8 places);

    /// Emitted by the data NFT when metadata is first set.
    event MetadataCreated(address indexed createdBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
    /// Emitted by the data NFT when metadata is replaced.
    event MetadataUpdated(address indexed updatedBy, uint8 state, string decryptorUrl, bytes flags, bytes data, bytes32 metaDataHash, uint256 timestamp, uint256 blockNumber);
    /// Emitted by the datatoken when an order starts.
    event OrderStarted(address indexed consumer, address payer, uint256 amount, uint256 serviceIndex, uint256 timestamp, address indexed publishMarketAddress, uint256 blockNumber);
    /// Emitted by the datatoken when an earlier order is reused.
    event OrderReused(bytes32 orderTxId, address caller, uint256 timestamp, uint256 number);
    /// Emitted by the datatoken with the provider fee of an order.
    event ProviderFee(address indexed providerFeeAddress, address indexed providerFeeToken, uint256 providerFeeAmount, bytes providerData, uint8 v, bytes32 r, bytes32 s, uint256 validUntil);

    /// ERC20Template: the provider's proof that it served an order (proof of download,
    /// `use_chain_proof`); the only transaction the provider sends.
    function orderExecuted(bytes32 orderTxId, bytes providerData, bytes providerSignature, bytes consumerData, bytes consumerSignature, address consumerAddress) external;
    /// Emitted by `orderExecuted`.
    event OrderExecuted(address indexed providerAddress, address indexed consumerAddress, bytes32 orderTxId, bytes providerData, bytes providerSignature, bytes consumerData, bytes consumerSignature, uint256 timestamp, uint256 blockNumber);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::{SolCall, SolEvent};

    #[test]
    fn selectors_and_topics_match_the_spec() {
        assert_eq!(hex::encode(getMetaDataCall::SELECTOR), "d2786ba4");
        assert_eq!(hex::encode(isDeployedCall::SELECTOR), "90184b02");
        assert_eq!(hex::encode(erc721ListCall::SELECTOR), "72f670f0");
        let topic = |t: alloy_primitives::B256| format!("{t:#x}");
        assert_eq!(
            topic(OrderStarted::SIGNATURE_HASH),
            "0xe1c4fa794edfa8f619b8257a077398950357b9c6398528f94480307352f9afcc"
        );
        assert_eq!(
            topic(OrderReused::SIGNATURE_HASH),
            "0x526e31449ea46e2aecf9b480c8d7dfa191348ef74ffdf75b445a6ab726daa6ff"
        );
        assert_eq!(
            topic(ProviderFee::SIGNATURE_HASH),
            "0xf8ed11cdaaf10eca2b6c941fb802cb8682afe86cac1eb93f70d0780fa062c544"
        );
        assert_eq!(
            topic(MetadataCreated::SIGNATURE_HASH),
            "0x5463569dcc320958360074a9ab27e809e8a6942c394fb151d139b5f7b4ecb1bd"
        );
        assert_eq!(
            topic(MetadataUpdated::SIGNATURE_HASH),
            "0xe5c4cf86b1815151e6f453e1e133d4454ae3b0b07145db39f2e0178685deac84"
        );
        // The spec gives the prefix and suffix of OrderExecuted's topic.
        let executed = topic(OrderExecuted::SIGNATURE_HASH);
        assert!(
            executed.starts_with("0xc9a10280") && executed.ends_with("70f9"),
            "{executed}"
        );
    }
}

// Drives an unmodified @oceanprotocol/lib 8.6.2 through its own high-level calls
// against the provider under test. Run by tests/e2e/oceanjs.rs with FLOW_CONFIG (JSON):
//   { providerUrl, rpcUrl, aquariusUrl, chainId, mnemonic, accounts: {publisher,
//     consumer, stranger} (mnemonic indices), contracts: {factory, ocean, dispenser},
//     fileUrl, computeFileUrl, algorithm: {meta} }
// Prints one JSON object (the outcome of every step) on the last line of stdout. Every
// request ocean.js makes is recorded (method, path, headers) by wrapping `fetch`.
import { createHash } from 'node:crypto'
import {
  Aquarius,
  Datatoken,
  Nft,
  NftFactory,
  ProviderInstance,
  ZERO_ADDRESS,
  downloadFile,
  generateDid,
  getEventFromTx,
  orderAsset
} from '@oceanprotocol/lib'
import { HDNodeWallet, JsonRpcProvider, Wallet, keccak256, toUtf8Bytes, getBytes } from 'ethers'

const cfg = JSON.parse(process.env.FLOW_CONFIG)
const out = { steps: {}, requests: [] }
const realFetch = globalThis.fetch
globalThis.fetch = async (url, init = {}) => {
  const u = new URL(String(url))
  if (u.origin === new URL(cfg.providerUrl).origin) {
    out.requests.push({ method: init.method || 'GET', path: u.pathname, query: u.search, headers: init.headers || {} })
  }
  return realFetch(url, init)
}

// No response cache: ethers' default (250 ms) hands a stale account nonce to the next
// transaction on an instant-mining chain.
const chain = new JsonRpcProvider(cfg.rpcUrl, cfg.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 })
chain.pollingInterval = 100
const wallet = (index) =>
  HDNodeWallet.fromPhrase(cfg.mnemonic, undefined, `m/44'/60'/0'/0/${index}`).connect(chain)
const publisher = wallet(cfg.accounts.publisher)
const consumer = wallet(cfg.accounts.consumer)
const stranger = wallet(cfg.accounts.stranger)
const providerUrl = cfg.providerUrl
const config = {
  chainId: cfg.chainId,
  network: 'development',
  nodeUri: cfg.rpcUrl,
  oceanNodeUri: cfg.aquariusUrl,
  nftFactoryAddress: cfg.contracts.factory,
  oceanTokenAddress: cfg.contracts.ocean,
  dispenserAddress: cfg.contracts.dispenser,
  fixedRateExchangeAddress: ZERO_ADDRESS,
  transactionBlockTimeout: 50,
  transactionConfirmationBlocks: 1,
  transactionPollingTimeout: 750,
  gasFeeMultiplier: 1.1,
  sdk: 'evm'
}
const aquarius = new Aquarius(cfg.aquariusUrl)
const sha256 = (bytes) => createHash('sha256').update(Buffer.from(bytes)).digest('hex')

async function step(name, run) {
  try {
    out.steps[name] = { ok: true, value: await run() }
  } catch (err) {
    out.steps[name] = { ok: false, error: String(err && err.message ? err.message : err) }
  }
  return out.steps[name]
}

// Publishes an asset as ocean.js 8's CodeExamples do: NFT + datatoken + dispenser,
// files encrypted by the provider (signed encrypt), the DDO encrypted by the provider,
// setMetadata with flags 0x02 and the DDO's sha256; then waits for the indexer.
async function publish(name, serviceType, fileUrl, compute) {
  const factory = new NftFactory(config.nftFactoryAddress, publisher, cfg.chainId, config)
  const owner = await publisher.getAddress()
  const tx = await factory.createNftWithDatatokenWithDispenser(
    { name, symbol: name.slice(0, 6).toUpperCase(), templateIndex: 1, tokenURI: 'https://oceanprotocol.com/nft/', transferable: true, owner },
    { templateIndex: 1, cap: '100000', feeAmount: '0', paymentCollector: ZERO_ADDRESS, feeToken: ZERO_ADDRESS, minter: owner, mpFeeAddress: ZERO_ADDRESS },
    { dispenserAddress: config.dispenserAddress, maxTokens: '1000', maxBalance: '1000', withMint: true, allowedSwapper: ZERO_ADDRESS }
  )
  const receipt = await tx.wait()
  const nftAddress = getEventFromTx(receipt, 'NFTCreated').args.newTokenAddress
  const datatokenAddress = getEventFromTx(receipt, 'TokenCreated').args.newTokenAddress
  const files = { datatokenAddress, nftAddress, files: [{ type: 'url', url: fileUrl, method: 'GET' }] }
  const service = {
    id: 'svc',
    type: serviceType,
    files: await ProviderInstance.encrypt(files, cfg.chainId, providerUrl, publisher),
    datatokenAddress,
    serviceEndpoint: providerUrl,
    timeout: 0
  }
  if (compute) service.compute = compute
  const ddo = {
    '@context': ['https://w3id.org/did/v1'],
    id: generateDid(nftAddress, cfg.chainId),
    version: '4.1.0',
    chainId: cfg.chainId,
    nftAddress,
    metadata: { created: '2026-12-02T00:00:00Z', updated: '2026-12-02T00:00:00Z', type: 'dataset', name, description: 'ocean.js 8.6.2 e2e', author: 'e2e', license: 'CC0' },
    services: [service]
  }
  const encryptedDdo = await ProviderInstance.encrypt(ddo, cfg.chainId, providerUrl, publisher)
  const hash = '0x' + sha256(toUtf8Bytes(JSON.stringify(ddo)))
  const nft = new Nft(publisher, cfg.chainId, config)
  const setTx = await nft.setMetadata(nftAddress, owner, 0, providerUrl, '', '0x02', encryptedDdo, hash)
  const setReceipt = await setTx.wait()
  const asset = await aquarius.waitForIndexer(ddo.id, setReceipt.hash, undefined, 200, 100)
  if (!asset) throw new Error('not indexed')
  return { did: ddo.id, nftAddress, datatokenAddress, asset }
}

const valid = await step('isValidProvider', () => ProviderInstance.isValidProvider(providerUrl))
const published = await step('publish', () => publish('oceanjs8-data', 'access', cfg.fileUrl))
if (published.ok) {
  const { did, asset, datatokenAddress } = published.value
  const consumerAddress = await consumer.getAddress()
  await step('fileinfo', () => ProviderInstance.checkDidFiles(did, 'svc', providerUrl, true))
  await step('fileinfoUrl', () => ProviderInstance.getFileInfo({ type: 'url', url: cfg.fileUrl, method: 'GET' }, providerUrl))
  await step('initialize', () => ProviderInstance.initialize(did, 'svc', 0, consumerAddress, providerUrl))
  const datatoken = new Datatoken(consumer, cfg.chainId, config)
  // Dispense, initialize and startOrder with the provider fee, in one of ocean.js's calls.
  const ordered = await step('order', async () => {
    const tx = await orderAsset(asset, consumer, config, datatoken, providerUrl)
    const receipt = await tx.wait()
    return receipt.hash
  })
  if (ordered.ok) {
    const orderTx = ordered.value
    await step('download', async () => {
      const url = await ProviderInstance.getDownloadUrl(did, 'svc', 0, orderTx, providerUrl, consumer)
      const file = await downloadFile(url)
      return { sha256: sha256(new Uint8Array(file.data)), length: file.data.byteLength, filename: file.filename }
    })
    await step('strangerDownload', async () => {
      const url = await ProviderInstance.getDownloadUrl(did, 'svc', 0, orderTx, providerUrl, stranger)
      const reply = await fetch(url)
      return { status: reply.status, body: await reply.text() }
    })
    await step('tokens', async () => {
      const token = await ProviderInstance.generateAuthToken(consumer, providerUrl)
      const url = await ProviderInstance.getDownloadUrl(did, 'svc', 0, orderTx, providerUrl, token)
      const first = await fetch(url, { headers: { Authorization: token } })
      const bytes = new Uint8Array(await first.arrayBuffer())
      // The same token for another address's URL is refused.
      const strangerUrl = url.replace(`consumerAddress=${consumerAddress}`, `consumerAddress=${await stranger.getAddress()}`)
      const foreign = await fetch(strangerUrl, { headers: { Authorization: token } })
      const invalidated = await ProviderInstance.invalidateAuthToken(consumer, token, providerUrl)
      const after = await fetch(url, { headers: { Authorization: token } })
      return {
        urlHasNonce: url.includes('nonce='),
        first: first.status,
        sha256: sha256(bytes),
        foreign: foreign.status,
        invalidated,
        after: after.status,
        afterBody: await after.text()
      }
    })
  }
  // A wallet whose natural next nonce makes `address + nonce + "encrypt"` hash to
  // 0x00…: ocean.js signs that hash as 31 bytes.
  await step('leadingZero', async () => {
    const fresh = Wallet.createRandom().connect(chain)
    const address = await fresh.getAddress()
    let n = 1
    while (getBytes(keccak256(toUtf8Bytes(`${address}${n}encrypt`)))[0] !== 0) n++
    if (n > 1) {
      // Raise the stored nonce to n - 1 with a v2 request (one counter for both).
      const nonce = String(n - 1)
      const signature = await fresh.signMessage(getBytes(keccak256(toUtf8Bytes(address + nonce))))
      const reply = await fetch(`${providerUrl}/api/services/createAuthToken?address=${address}&expiration=4000000000&nonce=${nonce}&signature=${signature}`)
      if (reply.status !== 200) throw new Error(`createAuthToken ${reply.status} ${await reply.text()}`)
    }
    const sealed = await ProviderInstance.encrypt({ hello: 'zero' }, cfg.chainId, providerUrl, fresh)
    return { nonce: n, sealed }
  })
}

// One compute job against the operator stand-in, in ocean.js 8.6.2's calls.
if (cfg.computeFileUrl) {
  await step('compute', async () => {
    const data = await publish('oceanjs8-c2d', 'compute', cfg.computeFileUrl, {
      allowRawAlgorithm: true,
      allowNetworkAccess: true,
      publisherTrustedAlgorithmPublishers: [],
      publisherTrustedAlgorithms: []
    })
    const consumerAddress = await consumer.getAddress()
    const envs = await ProviderInstance.getComputeEnvironments(providerUrl)
    const env = envs.find((e) => e.free)
    const algorithm = { meta: cfg.algorithm.meta }
    const assets = [{ documentId: data.did, serviceId: 'svc' }]
    // A 10-day job: other tests move the shared chain's clock forward by hours, and a
    // fee whose validUntil the chain has passed no longer counts (the environment is free).
    const duration = 10 * 24 * 3600
    const init = await ProviderInstance.initializeCompute(assets, algorithm, env.id, ZERO_ADDRESS, duration, providerUrl, consumerAddress, [], cfg.chainId)
    const datatoken = new Datatoken(consumer, cfg.chainId, config)
    const tx = await orderAsset(data.asset, consumer, config, datatoken, providerUrl, undefined, undefined, init.datasets[0].providerFee)
    const receipt = await tx.wait()
    assets[0].transferTxId = receipt.hash
    const started = await ProviderInstance.computeStart(providerUrl, consumer, env.id, assets, algorithm, duration, ZERO_ADDRESS, [], cfg.chainId)
    const jobs = Array.isArray(started) ? started : [started]
    const status = await ProviderInstance.computeStatus(providerUrl, consumer, jobs[0].jobId)
    const resultUrl = await ProviderInstance.getComputeResultUrl(providerUrl, consumer, jobs[0].jobId, 0)
    const result = await fetch(resultUrl)
    const resultBytes = new Uint8Array(await result.arrayBuffer())
    const stopped = await ProviderInstance.computeStop(jobs[0].jobId, providerUrl, consumer)
    // The free flavour: signed freeStartCompute, same orders.
    const free = await ProviderInstance.freeComputeStart(providerUrl, consumer, env.id, assets, algorithm)
    return {
      envCount: envs.length,
      envId: env.id,
      orderTx: receipt.hash,
      consumer: consumerAddress,
      init,
      jobs,
      status,
      resultStatus: result.status,
      resultSha256: sha256(resultBytes),
      stopped,
      free
    }
  })
}

console.log(JSON.stringify({ valid, ...out }))

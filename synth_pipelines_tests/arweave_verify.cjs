// The reference implementation's view of one of our transactions (arweave-js, installed with arlocal).
// stdin: {"tx": <POST /tx JSON without data>, "data_b64": <base64 of the data>}
// stdout: {"verify": <arweave.transactions.verify, which recomputes data_root from the data>,
//          "data_root": <arweave-js merkle root of the data>, "address": <address of the owner>}
// Env: ARWEAVE_JS = <dir>/node_modules/arweave
'use strict';
const path = require('path');
const base = process.env.ARWEAVE_JS || 'arweave';
const Arweave = require(base).default || require(base);
const Transaction = require(path.join(base, 'node/lib/transaction')).default;
const merkle = require(path.join(base, 'node/lib/merkle'));

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', async () => {
  const { tx, data_b64: dataB64 } = JSON.parse(input);
  const arweave = Arweave.init({});
  const data = Buffer.from(dataB64, 'base64');
  const root = data.length ? Arweave.utils.bufferTob64Url(await merkle.computeRootHash(data)) : '';
  const full = new Transaction({ ...tx, data: Arweave.utils.bufferTob64Url(data) });
  const verified = await arweave.transactions.verify(full);
  const address = await arweave.wallets.ownerToAddress(tx.owner);
  console.log(JSON.stringify({ verify: verified, data_root: root, address }));
});

#!/usr/bin/env node
// Known-answer vectors for the platform certificate list (SPEC: Platform certificates),
// made with Node's crypto (OpenSSL), independently of wxpay's own code (ring):
//
//     node crates/wxpay-core/tests/vectors/gen_certificates.js > crates/wxpay-core/tests/vectors/certificates.json
//
// AES-256-GCM with a fixed nonce and RSASSA-PKCS1-v1_5 are deterministic, so running it
// again gives the same bytes; a test does so where node is installed and compares.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const keys = path.join(__dirname, 'keys');
const certPem = fs.readFileSync(path.join(keys, 'wechatpay_cert.pem'), 'utf8');
const platformKey = fs.readFileSync(path.join(keys, 'wechatpay_key.pem'), 'utf8');
const apiV3Key = 'TestApiV3Key0123456789abcdefghij'; // 32 bytes, test only

function encrypt(plain, nonce, ad) {
  const cipher = crypto.createCipheriv('aes-256-gcm', Buffer.from(apiV3Key), Buffer.from(nonce));
  cipher.setAAD(Buffer.from(ad));
  const out = Buffer.concat([cipher.update(Buffer.from(plain)), cipher.final(), cipher.getAuthTag()]);
  return out.toString('base64');
}

// "2026-11-24T22:21:40+08:00": RFC 3339 in China Standard Time, as WeChat Pay writes.
function cst(date) {
  const t = new Date(date.getTime() + 8 * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${t}+08:00`;
}

const x509 = new crypto.X509Certificate(certPem);
const serial = x509.serialNumber.toUpperCase();
const nonce = '61f9c719728a';
const ad = 'certificate';
const ciphertext = encrypt(certPem, nonce, ad);
const body = JSON.stringify({
  data: [{
    serial_no: serial,
    effective_time: cst(new Date(x509.validFrom)),
    expire_time: cst(new Date(x509.validTo)),
    encrypt_certificate: { algorithm: 'AEAD_AES_256_GCM', nonce, associated_data: ad, ciphertext },
  }],
});
const timestamp = '1800000000';
const answerNonce = 'C3A1B2C3D4E5F60718293A4B5C6D7E8F';
const message = `${timestamp}\n${answerNonce}\n${body}\n`;
const signature = crypto.sign('sha256', Buffer.from(message), platformKey).toString('base64');

const vectors = {
  about: 'Platform certificate list (SPEC: Platform certificates), made by gen_certificates.js '
    + 'with Node crypto (OpenSSL). The APIv3 key is a test key. The list holds '
    + 'keys/wechatpay_cert.pem and is signed with keys/wechatpay_key.pem under its serial.',
  api_v3_key: apiV3Key,
  decrypt: {
    algorithm: 'AEAD_AES_256_GCM', nonce, associated_data: ad, ciphertext,
    plaintext: 'keys/wechatpay_cert.pem',
  },
  request: {
    method: 'GET', path: '/v3/certificates', timestamp: 1554208460,
    nonce: 'A8B7C6D5E4F30211A8B7C6D5E4F30211', body: '',
    message: 'GET\n/v3/certificates\n1554208460\nA8B7C6D5E4F30211A8B7C6D5E4F30211\n\n',
  },
  answer: {
    status: 200,
    body,
    message,
    headers: {
      'Wechatpay-Timestamp': timestamp,
      'Wechatpay-Nonce': answerNonce,
      'Wechatpay-Serial': serial,
      'Wechatpay-Signature': signature,
      'Wechatpay-Signature-Type': 'WECHATPAY2-SHA256-RSA2048',
      'Request-ID': '08C3A1B2C3D4E5F60718293A4B5C6D7E',
    },
    serial,
  },
};
process.stdout.write(JSON.stringify(vectors, null, 2) + '\n');

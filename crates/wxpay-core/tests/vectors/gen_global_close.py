#!/usr/bin/env python3
"""Known-answer vectors for the APIv3 cross-border (global) close, made with the `openssl`
command line (OpenSSL's RSA), independently of wxpay's own code (ring).

    python3 crates/wxpay-core/tests/vectors/gen_global_close.py > crates/wxpay-core/tests/vectors/global_close.json

RSASSA-PKCS1-v1_5 signatures are deterministic, so running it again gives the same bytes;
a test does so where openssl is installed and compares.
"""
import base64
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MERCHANT_KEY = os.path.join(HERE, "keys", "merchant_key.pem")
WECHATPAY_KEY = os.path.join(HERE, "keys", "wechatpay_key.pem")
SERIAL_NO = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"


def sign(key, message):
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", key],
        input=message.encode("utf-8"),
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(out).decode("ascii")


def request(name, path, timestamp, nonce, mchid, body):
    message = f"POST\n{path}\n{timestamp}\n{nonce}\n{body}\n"
    signature = sign(MERCHANT_KEY, message)
    authorization = (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",nonce_str="{nonce}",'
        f'signature="{signature}",timestamp="{timestamp}",serial_no="{SERIAL_NO}"'
    )
    return {
        "name": name,
        "method": "POST",
        "host": "https://apihk.mch.weixin.qq.com",
        "path": path,
        "timestamp": timestamp,
        "nonce": nonce,
        "body": body,
        "mchid": mchid,
        "serial_no": SERIAL_NO,
        "private_key": "keys/merchant_key.pem",
        "message": message,
        "signature": signature,
        "authorization": authorization,
    }


def response(name, status, timestamp, nonce, body, outcome):
    message = f"{timestamp}\n{nonce}\n{body}\n"
    return {
        "name": name,
        "status": status,
        "body": body,
        "message": message,
        "headers": {
            "Wechatpay-Timestamp": str(timestamp),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": PUB_KEY_ID,
            "Wechatpay-Signature": sign(WECHATPAY_KEY, message),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Request-ID": "08A1B2C3D4E5F60718293A4B5C6D7E8F",
        },
        "expect": outcome,
    }


NO = "1217752501201407033233368018"
TX = "4200000000201811201234567890"
COMMON = '{"mchid":"1900000001"}'
INSTITUTION = '{"sp_mchid":"1230000109","sub_mchid":"1900000109"}'
vectors = {
    "about": "APIv3 cross-border close (SPEC: APIv3 cross-border (global) close). Signed with "
    "the shared test keys by gen_global_close.py through the openssl command line. Answers "
    "verify with keys/wechatpay_pub.pem.",
    "requests": [
        request("global_out_trade_no_common", f"/v3/global/transactions/out-trade-no/{NO}/close",
                1554208460, "5B7C0E8A1F2D3C4B5A69788796A5B4C3", "1900000001", COMMON),
        request("global_out_trade_no_institution", f"/v3/global/transactions/out-trade-no/{NO}/close",
                1554208461, "6C8D1F9B2E3D4C5B6A7988A7B6C5D4E3", "1230000109", INSTITUTION),
        request("global_transaction_id_common", f"/v3/global/transactions/id/{TX}/close",
                1554208462, "7D9E2A0C3F4E5D6C7B8A99B8C7D6E5F4", "1900000001", COMMON),
        request("global_transaction_id_institution", f"/v3/global/transactions/id/{TX}/close",
                1554208463, "8EAF3B1D4A5F6E7D8C9BAAC9D8E7F605", "1230000109", INSTITUTION),
    ],
    "responses": [
        response("global_204", 204, 1700000400, "C1D2E3F405162738495A6B7C8D9EAFB0", "", "closed"),
        response("global_400_order_closed", 400, 1700000401, "D1D2E3F405162738495A6B7C8D9EAFB0",
                 '{"code":"ORDER_CLOSED","message":"订单已关闭"}', "already_closed"),
        response("global_400_param_error", 400, 1700000402, "E1D2E3F405162738495A6B7C8D9EAFB0",
                 '{"code":"PARAM_ERROR","detail":{"field":"transaction_id","value":"42A","issue":"格式错误","location":"uri_template"},"message":"参数错误"}',
                 "api:PARAM_ERROR"),
    ],
}
json.dump(vectors, sys.stdout, ensure_ascii=False, indent=2)
sys.stdout.write("\n")

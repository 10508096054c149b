#!/usr/bin/env python3
"""Known-answer vectors for the order query (SPEC: Query order), made independently of
wxpay's own code: APIv3 signatures with the `openssl` command line (OpenSSL's RSA), APIv2
signs with Python's hashlib and hmac.

    python3 crates/wxpay-core/tests/vectors/gen_query.py > crates/wxpay-core/tests/vectors/query.json

Everything is deterministic (RSASSA-PKCS1-v1_5, MD5, HMAC-SHA256), so running it again gives
the same bytes; a test does so where python3 and openssl are installed and compares.
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MERCHANT_KEY = os.path.join(HERE, "keys", "merchant_key.pem")
WECHATPAY_KEY = os.path.join(HERE, "keys", "wechatpay_key.pem")
SERIAL_NO = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"
PUB_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
API_V2_KEY = "192006250b4c09247ec02edce69f6a2d"
NO = "1217752501201407033233368018"
TX = "4200000000201811201234567890"


def rsa_sign(key, message):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=message.encode("utf-8"), capture_output=True, check=True).stdout
    return base64.b64encode(out).decode("ascii")


def v3_request(name, target, timestamp, nonce, mchid):
    message = f"GET\n{target}\n{timestamp}\n{nonce}\n\n"
    signature = rsa_sign(MERCHANT_KEY, message)
    return {
        "name": name, "method": "GET", "target": target, "timestamp": timestamp,
        "nonce": nonce, "mchid": mchid, "message": message,
        "authorization": (f'WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",nonce_str="{nonce}",'
                          f'signature="{signature}",timestamp="{timestamp}",serial_no="{SERIAL_NO}"'),
    }


def v3_answer(name, query, status, timestamp, nonce, body, expect):
    body = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    message = f"{timestamp}\n{nonce}\n{body}\n"
    return {
        "name": name, "query": query, "status": status, "body": body,
        "headers": {
            "Wechatpay-Timestamp": str(timestamp), "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": PUB_KEY_ID, "Wechatpay-Signature": rsa_sign(WECHATPAY_KEY, message),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048", "Request-ID": "08F1E2D3C4B5A6978",
        },
        "expect": expect,
    }


def v2_sign(fields, sign_type):
    payload = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if v != "" and k != "sign")
    payload += f"&key={API_V2_KEY}"
    if sign_type == "MD5":
        return payload, hashlib.md5(payload.encode("utf-8")).hexdigest().upper()
    return payload, hmac.new(API_V2_KEY.encode(), payload.encode("utf-8"), hashlib.sha256).hexdigest().upper()


def v2_request(name, fields, sign_type):
    payload, sign = v2_sign(fields, sign_type)
    return {"name": name, "params": fields, "sign_type": sign_type, "string_to_sign": payload, "sign": sign}


def v2_answer(name, query, fields, sign_type, expect):
    _, sign = v2_sign(fields, sign_type)
    xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + f"<sign><![CDATA[{sign}]]></sign></xml>"
    return {"name": name, "query": query, "sign_type": sign_type, "body": xml, "expect": expect}


PAID = {"transaction_id": TX, "success_time": "2018-06-08T10:34:56+08:00",
        "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"}}


def direct(state, **extra):
    body = {"appid": "wxd678efh567hg6787", "mchid": "1900000001", "out_trade_no": NO,
            "trade_type": "NATIVE", "trade_state": state, "trade_state_desc": "desc"}
    body.update(extra)
    return body


partner = {"sp_appid": "wx8888888888888888", "sp_mchid": "1230000109", "sub_appid": "wxd678efh567hg6999",
           "sub_mchid": "1900000109", "out_trade_no": NO, "trade_type": "JSAPI", "trade_state": "CLOSED",
           "trade_state_desc": "已关闭"}
combined = {"combine_appid": "wxd678efh567hg6787", "combine_mchid": "1900000001",
            "combine_out_trade_no": "P20150806125346",
            "sub_orders": [
                {"mchid": "1900000001", "out_trade_no": "20150806125346", "trade_state": "CLOSED",
                 "amount": {"total_amount": 10, "currency": "CNY"}},
                {"mchid": "1900000002", "out_trade_no": "20150806125347", "trade_state": "SUCCESS",
                 "transaction_id": TX, "success_time": "2018-06-08T10:34:56+08:00",
                 "amount": {"total_amount": 10, "currency": "CNY"}},
            ]}
global_institution = {"sp_mchid": "1230000109", "sub_mchid": "1900000109", "out_trade_no": NO,
                      "transaction_id": TX, "trade_state": "REFUND", "trade_state_desc": "转入退款",
                      "success_time": "2018-06-08T10:34:56+08:00", "amount": {"total": 100, "currency": "HKD"}}

vectors = {
    "about": "Order query (SPEC: Query order). APIv3 signed with the shared test keys through the "
             "openssl command line, APIv2 with Python's hashlib/hmac, by gen_query.py. APIv3 answers "
             "verify with keys/wechatpay_pub.pem; APIv2 answers with the API v2 key.",
    "api_v2_key": API_V2_KEY,
    "v3_requests": [
        v3_request("direct", f"/v3/pay/transactions/out-trade-no/{NO}?mchid=1900000001", 1554208460, "A5B6C7D8E9F00112233445566778899A", "1900000001"),
        v3_request("direct_by_id", f"/v3/pay/transactions/id/{TX}?mchid=1900000001", 1554208461, "B5B6C7D8E9F00112233445566778899A", "1900000001"),
        v3_request("partner", f"/v3/pay/partner/transactions/out-trade-no/{NO}?sp_mchid=1230000109&sub_mchid=1900000109", 1554208462, "C5B6C7D8E9F00112233445566778899A", "1230000109"),
        v3_request("partner_by_id", f"/v3/pay/partner/transactions/id/{TX}?sp_mchid=1230000109&sub_mchid=1900000109", 1554208463, "D5B6C7D8E9F00112233445566778899A", "1230000109"),
        v3_request("combined", "/v3/combine-transactions/out-trade-no/P20150806125346", 1554208464, "E5B6C7D8E9F00112233445566778899A", "1900000001"),
        v3_request("global", f"/v3/global/transactions/out-trade-no/{NO}?mchid=1900000001", 1554208465, "F5B6C7D8E9F00112233445566778899A", "1900000001"),
        v3_request("global_by_id_institution", f"/v3/global/transactions/id/{TX}?sp_mchid=1230000109&sub_mchid=1900000109", 1554208466, "05B6C7D8E9F00112233445566778899A", "1230000109"),
    ],
    "v3_answers": [
        v3_answer("direct_paid", "direct", 200, 1700000500, "1A2B3C4D5E6F708192A3B4C5D6E7F801", direct("SUCCESS", **PAID), f"found:SUCCESS:{TX}"),
        v3_answer("direct_notpay", "direct", 200, 1700000501, "2A2B3C4D5E6F708192A3B4C5D6E7F801", direct("NOTPAY"), "found:NOTPAY"),
        v3_answer("direct_by_id_closed", "direct_by_id", 200, 1700000502, "3A2B3C4D5E6F708192A3B4C5D6E7F801", direct("CLOSED", transaction_id=TX), "found:CLOSED"),
        v3_answer("direct_other_order", "direct", 200, 1700000503, "4A2B3C4D5E6F708192A3B4C5D6E7F801", dict(direct("CLOSED"), out_trade_no="1217752501201407033233368019"), "mismatch:out_trade_no"),
        v3_answer("direct_other_merchant", "direct", 200, 1700000504, "5A2B3C4D5E6F708192A3B4C5D6E7F801", dict(direct("CLOSED"), mchid="1900000002"), "mismatch:mchid"),
        v3_answer("direct_not_found", "direct", 404, 1700000505, "6A2B3C4D5E6F708192A3B4C5D6E7F801", '{"code":"ORDER_NOT_EXIST","message":"订单不存在"}', "not_found"),
        v3_answer("partner_closed", "partner", 200, 1700000506, "7A2B3C4D5E6F708192A3B4C5D6E7F801", partner, "found:CLOSED"),
        v3_answer("partner_other_sub", "partner", 200, 1700000507, "8A2B3C4D5E6F708192A3B4C5D6E7F801", dict(partner, sub_mchid="1900000110"), "mismatch:sub_mchid"),
        v3_answer("combined", "combined", 200, 1700000508, "9A2B3C4D5E6F708192A3B4C5D6E7F801", combined, f"found:CLOSED,SUCCESS:{TX}"),
        v3_answer("global_by_id_refund", "global_by_id_institution", 200, 1700000509, "AA2B3C4D5E6F708192A3B4C5D6E7F801", global_institution, f"found:REFUND:{TX}"),
    ],
    "v2_requests": [
        v2_request("query_md5", {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "ec2316275641faa3aacf3cc599e8730f", "out_trade_no": "1415983244"}, "MD5"),
        v2_request("query_hmac_by_id_institution", {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "fc2316275641faa3aacf3cc599e8730f", "sign_type": "HMAC-SHA256", "sub_mch_id": "1900000110", "transaction_id": TX}, "HMAC-SHA256"),
    ],
    "v2_answers": [
        v2_answer("paid_md5", "query_md5", {"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "A1b2C3d4E5f6G7h8", "result_code": "SUCCESS", "out_trade_no": "1415983244", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "transaction_id": TX, "total_fee": "100", "time_end": "20141030133525"}, "MD5", f"found:SUCCESS:{TX}"),
        v2_answer("notpay_md5", "query_md5", {"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "B1b2C3d4E5f6G7h8", "result_code": "SUCCESS", "out_trade_no": "1415983244", "trade_state": "NOTPAY", "trade_state_desc": "订单未支付"}, "MD5", "found:NOTPAY"),
        v2_answer("other_order_md5", "query_md5", {"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "C1b2C3d4E5f6G7h8", "result_code": "SUCCESS", "out_trade_no": "1415983245", "trade_state": "CLOSED"}, "MD5", "mismatch:out_trade_no"),
        v2_answer("not_found_md5", "query_md5", {"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "nonce_str": "D1b2C3d4E5f6G7h8", "result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "此交易订单号不存在"}, "MD5", "not_found"),
        v2_answer("closed_hmac_institution", "query_hmac_by_id_institution", {"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "sub_mch_id": "1900000110", "nonce_str": "E1b2C3d4E5f6G7h8", "result_code": "SUCCESS", "out_trade_no": "1415983244", "transaction_id": TX, "trade_state": "CLOSED", "trade_state_desc": "已关闭"}, "HMAC-SHA256", "found:CLOSED"),
        v2_answer("other_sub_hmac", "query_hmac_by_id_institution", {"return_code": "SUCCESS", "return_msg": "OK", "appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "sub_mch_id": "1900000111", "nonce_str": "F1b2C3d4E5f6G7h8", "result_code": "SUCCESS", "out_trade_no": "1415983244", "transaction_id": TX, "trade_state": "CLOSED"}, "HMAC-SHA256", "mismatch:sub_mch_id"),
    ],
}
json.dump(vectors, sys.stdout, ensure_ascii=False, indent=2)
sys.stdout.write("\n")

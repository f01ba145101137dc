"""signxml (Python, lxml + cryptography/OpenSSL) on the same document and key as lienthong.

Called by `lienthong bench` (src/bench/peers.rs) with the files it prepared; prints one JSON line.
In-process, like lienthong's own pipeline figures: no interpreter start-up per document.
"""
import json
import sys
import time
from importlib.metadata import version

from cryptography.hazmat.primitives.serialization import load_pem_private_key

import signxml
from lxml import etree
from signxml import XMLSigner, XMLVerifier, SignatureMethod, DigestAlgorithm, CanonicalizationMethod


def per_second(budget, f):
    f()
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < budget or n < 3:
        f()
        n += 1
    return n / (time.perf_counter() - start)


def main():
    key_pem, cert_pems, root_pem, unsigned_path, signed_path, budget = sys.argv[1:7]
    budget = float(budget)
    # Loaded once, like lienthong's signer: cryptography validates an RSA key on every PEM load
    # (tens of ms), which would otherwise dominate the per-document figure.
    key = load_pem_private_key(open(key_pem, "rb").read(), password=None)
    chain = [open(p, "rb").read().decode() for p in cert_pems.split(",")]
    unsigned = open(unsigned_path, "rb").read()
    signed = open(signed_path, "rb").read()
    parser = etree.XMLParser(resolve_entities=False, no_network=True)

    signer = XMLSigner(
        method=signxml.methods.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )

    def sign():
        root = etree.fromstring(unsigned, parser)
        out = signer.sign(root, key=key, cert=chain)
        etree.tostring(out)

    # lienthong puts the signature inside edXMLHeader; signxml verifies an enveloped signature
    # wherever it is, against the same demo root.
    def verify():
        XMLVerifier().verify(signed, ca_pem_file=root_pem, expect_references=1)

    verify()  # fail early, with signxml's own error, if it does not accept lienthong's output
    result = {
        "version": "signxml " + version("signxml") + " (lxml " + version("lxml") + ", cryptography " + version("cryptography") + ")",
        "sign_docs_per_s": per_second(budget, sign),
        "verify_docs_per_s": per_second(budget, verify),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

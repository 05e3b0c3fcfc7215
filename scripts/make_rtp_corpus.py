#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_rtp and fuzz_rtcp (tests/fuzz/corpus/rtp, .../rtcp):
a handful of valid packets laid out by hand from RFC 3550 5.1 and 6, RFC 8285, RFC 4585,
RFC 5104, REMB and transport-wide cc feedback (the same packets as tests/unit/rtp*_test.cpp
and rtcp_test.cpp). Run from the repository root; it overwrites the files it writes."""
import os

RTP = {
    "minimal": "80e01234 00005678 9abcdef0 6869",
    "csrc_onebyte_ext_padding": "b26f0001 00000002 11223344 aaaaaaaa bbbbbbbb bede0003"
                                " 1030 22aabbcc 310005 000000 deadbeef 00000004",
    "twobyte_ext": "90600007 00000009 00000001 10030002 0100 00 1403616263 55",
    "onebyte_id15_stop": "90600001 00000000 00000000 bede0001 1078 ff22",
    "other_profile": "90600001 00000000 00000000 12340001 ffffffff 0102",
    "opus_like": "90 6f 4e20 0001e240 deadbeef bede0002 10 30 22 0a0b0c 0000" + " 78" * 40,
}

RTCP = {
    "sr_sdes": "81c8000c 11223344 e8000001 80000000 00010000 00000064 00002710"
               " 55667788 40fffffe 000103e8 00000020 12345678 00018000"
               " 81ca0003 11223344 0104 63616d31 0000",
    "nack": "81cd0004 00000001 00000002 00648005 ffff0001",
    "transport_cc": "afcd0008 fa17fa17 2b30ab6d 01f4000c 00010207 2005 c941"
                    " 0404080001 ff38 101402 0002",
    "transport_cc_1bit": "8fcd0006 00000001 00000002 fffe0011 ffffff00 a001 0064 0102 0000",
    "pli_fir_remb": "81ce0002 00000001 00000002"
                    " 84ce0004 00000001 00000000 00000009 2a000000"
                    " 8fce0005 00000001 00000000 52454d42 010bd090 00000009",
    "rr_bye_app": "81c90007 00000001 00000002 00000010 00000100 00000004 00000000 00000000"
                  " 82cb0004 00000001 00000002 04676f6e 65000000"
                  " 80cc0002 00000001 6e616d65",
}


def write(directory, packets):
    os.makedirs(directory, exist_ok=True)
    for name, text in packets.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(bytes.fromhex(text.replace(" ", "")))


write("tests/fuzz/corpus/rtp", RTP)
write("tests/fuzz/corpus/rtcp", RTCP)

{
  "targets": [
    {
      "target_name": "vxtun",
      "sources": [
        "native/addon.cc",
        "native/dataplane.cc",
        "native/capture.cc",
        "native/capture_filter.cc",
        "native/pcapng_epb.cc",
        "native/forwarder.cc",
        "native/rx_batch.cc",
        "native/tx_batch.cc",
        "native/fdb.cc",
        "native/classify.cc",
        "native/checksum.cc",
        "native/segment.cc",
        "native/tso.cc",
        "native/gro.cc",
        "native/vxlan.cc",
        "native/tun_linux.cc",
        "native/tun_device.cc",
        "native/udp_linux.cc"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-fvisibility=hidden", "-O2"],
      "ldflags": ["-pthread"]
    }
  ]
}

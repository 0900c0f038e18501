{
  "target_defaults": {
    "include_dirs": ["native"],
    "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags_cc!": ["-std=gnu++17"],
    "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-Wshadow", "-Werror", "-fvisibility=hidden", "-O2",
      "-isystem", "<!(node -p \"require('path').resolve(require('node-addon-api').include_dir)\")"],
    "ldflags": ["-pthread"]
  },
  "targets": [
    {
      "target_name": "vxtun",
      "sources": ["<!@(ls -1 native/core/*.cc native/engine/*.cc native/linux/*.cc native/node/*.cc)"]
    },
    {
      "target_name": "vxtun_testing",
      "sources": ["<!@(ls -1 native/core/*.cc native/testing/*.cc)", "native/node/convert.cc"]
    }
  ]
}

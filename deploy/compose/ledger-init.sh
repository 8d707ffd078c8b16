#!/bin/sh
# Deploy the consortium's registry on the compose anvil node, once.
#
# Anvil's first contract from its first account always lands at the address
# interlend.toml names, so a second `docker compose up` finds it there and stops.
# The keys are anvil's well-known development accounts: never use them on a real chain.
# INTERLEND_LEDGER_RPC points it at another node (tests/test_compose_ledger.py does).
set -eu
RPC=${INTERLEND_LEDGER_RPC:-http://anvil:8545}
ADDRESS=0x5FbDB2315678afecb367f032d93F642f64180aa3
if python - "$RPC" "$ADDRESS" <<'PY'
import json
import sys
import urllib.request

rpc, address = sys.argv[1], sys.argv[2]
body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getCode", "params": [address, "latest"]}
request = urllib.request.Request(
    rpc, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
)
with urllib.request.urlopen(request, timeout=10) as answer:
    code = json.load(answer)["result"]
sys.exit(0 if code not in ("0x", "0x0") else 1)
PY
then
  echo "ledger-init: the registry is already deployed at $ADDRESS"
  exit 0
fi
exec interlend ledger deploy --rpc "$RPC" --key-env DEPLOYER_KEY \
  --member "alpha:$GATEWAY_A_ADDRESS" --member "beta:$GATEWAY_B_ADDRESS"

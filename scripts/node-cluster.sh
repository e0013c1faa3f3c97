#!/usr/bin/env bash
# A one-node Kubernetes cluster on this machine, for the node tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables) and CoreDNS as background
# processes (no systemd), Debian's containerd + runc + CNI plugins, and the local images of
# scripts/node_images.py imported without a registry.
#
#   bash scripts/node-cluster.sh build    build what is missing (binaries, images), start nothing
#   bash scripts/node-cluster.sh up       build what is missing, start everything, wait for Ready
#   bash scripts/node-cluster.sh down     stop everything by PID, unmount and remove what `up` made
#   bash scripts/node-cluster.sh status   what runs, the node's conditions, the imported images
#   bash scripts/node-cluster.sh restart-kubelet   stop and start the kubelet (its pods keep running)
#   bash scripts/node-cluster.sh exec CMD run CMD inside the cluster's network namespace
#
# Everything lives in the network namespace "llm-serving-node": the node IP 10.77.0.2 (a veth pair
# with both ends inside), the pod network 10.244.0.0/24 (CNI bridge), Service IPs 10.96.0.0/16 and
# CoreDNS at 10.96.0.10. Nothing listens or sends outside it but on loopback inside it; the host's
# sysctls are untouched (the namespace has its own). Needs root, Linux with cgroups and overlayfs.
# The admin kubeconfig is written to $NODE_STATE/kubeconfig (printed by `up`).
set -euo pipefail
cd "$(dirname "$0")/.."

NETNS=llm-serving-node
NODE_NAME=llm-node
NODE_IP=10.77.0.2
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
# GPUs the node advertises (an extended resource, no device): the CPU stand-in engines' pods request
# nvidia.com/gpu as the real engines' do, so they schedule the same way; two, so that a surge roll
# has room for its extra pod.
NODE_GPUS=${LLM_SERVING_NODE_GPUS:-2}
NODE_STATE=${LLM_SERVING_NODE_STATE:-/var/lib/llm-serving-node}
RUN=/run/llm-serving-node
LOGS="$NODE_STATE/logs"
PKI="$NODE_STATE/pki"
IN_NS=(nsenter "--net=/var/run/netns/$NETNS")
# Start order; `down` stops in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns local-path-provisioner)
# rancher's local-path-provisioner (toolchain/local-path): the dynamic provisioner of StorageClass
# "local-path", as k3s ships it, making one directory per claim under LOCAL_PATH_ROOT.
LOCAL_PATH_ROOT="$NODE_STATE/local-path"
LOCAL_PATH_NS=local-path-storage

die() { echo "node: $*" >&2 && exit 1; }

# wait_for WHAT SECONDS LOG COMMAND...: polls COMMAND every 0.25 s; on timeout names WHAT and shows LOG's end.
wait_for() {
  local what=$1 seconds=$2 log=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "node: $what not ready after $seconds s; the end of $log:" >&2
      tail -n 30 "$log" 2>/dev/null | sed 's/^/  | /' >&2
      exit 1
    fi
    sleep 0.25
  done
}

# start NAME COMMAND...: runs COMMAND in the namespace, in the background, logging to $LOGS/NAME.log.
start() {
  local name=$1
  shift
  "${IN_NS[@]}" "$@" >"$LOGS/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

kubectl_ns() { "${IN_NS[@]}" "$BIN/kubectl" --kubeconfig "$NODE_STATE/kubeconfig" "$@"; }

preflight() {
  [ "$(id -u)" = 0 ] || die "needs root (network namespace, mounts, containerd)"
  local tool missing=()
  for tool in containerd runc ctr ip iptables nsenter openssl mmdebstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=(/usr/lib/cni/bridge)
  if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${missing[*]}; install containerd runc containernetworking-plugins iptables iproute2 openssl mmdebstrap"
    echo "node: installing Debian's containerd, runc, CNI plugins, iptables, mmdebstrap (missing: ${missing[*]})" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      containerd runc containernetworking-plugins iptables iproute2 openssl mmdebstrap conntrack) >"$LOGS/apt.log" 2>&1 ||
      { tail -n 20 "$LOGS/apt.log" >&2 && die "apt-get install failed"; }
  fi
}

network() {
  [ -e "/var/run/netns/$NETNS" ] && return 0
  ip netns add "$NETNS"
  # Both ends inside: the node IP needs an interface that is up with a carrier (no dummy module here),
  # and the default route makes Service IPs routable before kube-proxy's DNAT rewrites them.
  ip link add lsn0 type veth peer name lsn1
  ip link set lsn0 netns "$NETNS"
  ip link set lsn1 netns "$NETNS"
  "${IN_NS[@]}" ip link set lo up
  "${IN_NS[@]}" ip addr add "$NODE_IP/24" dev lsn0
  "${IN_NS[@]}" ip link set lsn0 up
  "${IN_NS[@]}" ip link set lsn1 up
  "${IN_NS[@]}" ip route add default dev lsn0
  "${IN_NS[@]}" sysctl -qw net.ipv4.ip_forward=1
}

pki() {
  [ -f "$PKI/ca.crt" ] && return 0
  mkdir -p "$PKI" && chmod 700 "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=llm-serving-node-ca" 2>/dev/null
    # cert NAME SUBJECT [SANS]: a key and a certificate signed by the CA.
    cert() {
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 30 \
        ${3:+-extfile <(printf 'subjectAltName=%s\n' "$3")} 2>/dev/null
      rm -f "$1.csr"
    }
    cert apiserver "/CN=kube-apiserver" "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
    cert kubelet "/CN=$NODE_NAME" "IP:$NODE_IP,DNS:$NODE_NAME"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # Static tokens: the admin, and each component under the user its default RBAC bindings name.
    : >tokens.csv
    for user in admin=system:masters "system:node:$NODE_NAME=system:nodes" system:kube-controller-manager= \
      system:kube-scheduler= system:kube-proxy= system:coredns= system:local-path-provisioner=; do
      local name=${user%%=*} group=${user#*=}
      printf '%s,%s,%s%s\n' "$(openssl rand -hex 24)" "$name" "$name" "${group:+,\"$group\"}" >>tokens.csv
    done
  )
}

# kubeconfig FILE USER: a kubeconfig for USER's static token.
kubeconfig() {
  local token
  token=$(grep -F ",$2,$2" "$PKI/tokens.csv" | cut -d, -f1)
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NETNS
  cluster: {server: "https://$NODE_IP:6443", certificate-authority: "$PKI/ca.crt"}
users:
- name: $2
  user: {token: "$token"}
contexts:
- name: $NETNS
  context: {cluster: $NETNS, user: "$2"}
current-context: $NETNS
EOF
  chmod 600 "$1"
}

configs() {
  local conf="$NODE_STATE/conf"
  mkdir -p "$conf" "$NODE_STATE/cni/net.d"
  kubeconfig "$NODE_STATE/kubeconfig" admin
  kubeconfig "$conf/kubelet.kubeconfig" "system:node:$NODE_NAME"
  kubeconfig "$conf/controller-manager.kubeconfig" system:kube-controller-manager
  kubeconfig "$conf/scheduler.kubeconfig" system:kube-scheduler
  kubeconfig "$conf/proxy.kubeconfig" system:kube-proxy
  kubeconfig "$conf/coredns.kubeconfig" system:coredns
  kubeconfig "$conf/local-path.kubeconfig" system:local-path-provisioner
  cat >"$conf/containerd.toml" <<EOF
version = 2
root = "$NODE_STATE/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(cat "$IMAGES/pause.ref")"
  # This VM lacks CAP_SYS_RESOURCE: without this every sandbox fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_STATE/cni/net.d"
EOF
  cat >"$NODE_STATE/cni/net.d/10-bridge.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NETNS",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
               "dataDir": "$NODE_STATE/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  printf 'nameserver %s\nsearch cluster.local\n' "$DNS_SERVICE_IP" >"$conf/resolv.conf"
  cat >"$conf/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$RUN/containerd.sock
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: cluster.local
resolvConf: $conf/resolv.conf
podCIDR: $POD_CIDR
podLogsDir: $NODE_STATE/pod-logs
serializeImagePulls: false
# A shared disk: never evict or garbage-collect the local images because the host's disk is busy.
evictionHard: {memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
  cat >"$conf/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
clientConnection: {kubeconfig: $conf/proxy.kubeconfig}
# The namespace's conntrack table is the kernel's: leave its size alone.
conntrack: {maxPerCore: 0}
EOF
  cat >"$conf/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $conf/coredns.kubeconfig $NETNS
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
EOF
}

# The cluster objects a kubeadm cluster would have: CoreDNS's permissions, the kube-dns Service (a
# selector-less Service whose EndpointSlice points at CoreDNS on the node IP), the node's labels and
# GPUs (the stand-in engines' pods request them), and "node-local", a StorageClass without a
# provisioner for the tests' local PersistentVolumes.
cluster_objects() {
  kubectl_ns apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: node-local}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_SERVICE_IP
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
addressType: IPv4
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
EOF
  local_path_objects
  kubectl_ns label node "$NODE_NAME" --overwrite llm-serving.io/model-host=true >/dev/null
  kubectl_ns patch node "$NODE_NAME" --subresource=status --type=merge \
    -p "{\"status\":{\"capacity\":{\"nvidia.com/gpu\":\"$NODE_GPUS\"}}}" >/dev/null
}

# local-path-provisioner's objects, as its deploy/local-path-storage.yaml has them, but for a host
# process under its own user (no Deployment, no ServiceAccount token) and helper pods that run the
# local Python image (Debian's sh, mkdir and rm) instead of busybox from Docker Hub.
local_path_objects() {
  local helper_image
  helper_image=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["python"])' "$IMAGES/images.json")
  kubectl_ns apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $LOCAL_PATH_NS}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: local-path-provisioner, namespace: $LOCAL_PATH_NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: local-path-provisioner, namespace: $LOCAL_PATH_NS}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, patch, update, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: local-path-provisioner, namespace: $LOCAL_PATH_NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: local-path-provisioner}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:local-path-provisioner"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:local-path-provisioner"}
rules:
- apiGroups: [""]
  resources: [nodes, persistentvolumeclaims, configmaps, pods, pods/log]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [persistentvolumes]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:local-path-provisioner"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:local-path-provisioner"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:local-path-provisioner"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: local-path-config, namespace: $LOCAL_PATH_NS}
data:
  config.json: '{"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": ["$LOCAL_PATH_ROOT"]}]}'
  setup: |-
    #!/bin/sh
    set -eu
    mkdir -m 0777 -p "\$VOL_DIR"
  teardown: |-
    #!/bin/sh
    set -eu
    rm -rf "\$VOL_DIR"
  helperPod.yaml: |-
    apiVersion: v1
    kind: Pod
    metadata: {name: helper-pod}
    spec:
      priorityClassName: system-node-critical
      containers:
      - {name: helper-pod, image: "$helper_image", imagePullPolicy: Never}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: local-path}
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Delete
EOF
  kubectl_ns -n "$LOCAL_PATH_NS" get configmap local-path-config -o 'jsonpath={.data.config\.json}' >"$NODE_STATE/conf/local-path.json"
  kubectl_ns -n "$LOCAL_PATH_NS" get configmap local-path-config -o 'jsonpath={.data.helperPod\.yaml}' >"$NODE_STATE/conf/local-path-helper-pod.yaml"
}

start_kubelet() {
  local conf="$NODE_STATE/conf"
  start kubelet "$BIN/kubelet" --config "$conf/kubelet.yaml" --kubeconfig "$conf/kubelet.kubeconfig" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$NODE_STATE/kubelet" --cert-dir "$PKI"
}

# stop NAME: SIGTERM by its PID file, SIGKILL after 10 s.
stop() {
  local pid
  [ -f "$RUN/$1.pid" ] || return 0
  pid=$(cat "$RUN/$1.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/$1.pid"
}

# What a kubelet upgrade or crash does to a node: the kubelet stops and starts again while its pods
# keep running; it then picks them up again from containerd and its checkpoints.
restart_kubelet() {
  running kubelet || die "the kubelet is not running (bash scripts/node-cluster.sh up)"
  BIN=$(bash scripts/toolchain.sh cluster node)
  stop kubelet
  start_kubelet
  wait_for "node $NODE_NAME" 60 "$LOGS/kubelet.log" kubectl_ns wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
  echo "node: kubelet restarted" >&2
}

build() {
  mkdir -p "$NODE_STATE" "$LOGS" "$RUN"
  preflight
  BIN=$(bash scripts/toolchain.sh cluster node)
  IMAGES=$(python3 scripts/node_images.py build)
}

up() {
  build
  network
  pki
  configs
  local conf="$NODE_STATE/conf"

  if ! running containerd; then
    start containerd containerd --config "$conf/containerd.toml"
    wait_for containerd 30 "$LOGS/containerd.log" ctr --address "$RUN/containerd.sock" version
  fi
  local tar
  for tar in "$IMAGES"/*.tar; do
    "${IN_NS[@]}" ctr --address "$RUN/containerd.sock" -n k8s.io images import --no-unpack=false "$tar" >>"$LOGS/images.log" 2>&1 ||
      { tail -n 5 "$LOGS/images.log" >&2 && die "importing $tar failed"; }
  done

  running etcd || start etcd "$BIN/etcd" --data-dir "$NODE_STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster default=http://127.0.0.1:2380 --quota-backend-bytes 1073741824
  wait_for etcd 30 "$LOGS/etcd.log" "${IN_NS[@]}" python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:2379/health", timeout=1)'

  running kube-apiserver || start kube-apiserver "$BIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" --client-ca-file "$PKI/ca.crt" \
    --token-auth-file "$PKI/tokens.csv" --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc --service-cluster-ip-range "$SERVICE_CIDR" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP,Hostname \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver 90 "$LOGS/kube-apiserver.log" kubectl_ns get --raw /readyz

  running kube-controller-manager || start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$conf/controller-manager.kubeconfig" --leader-elect=false --bind-address 127.0.0.1 \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --allocate-node-cidrs=false --controllers '*,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
  running kube-scheduler || start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$conf/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1
  running kubelet || start_kubelet
  running kube-proxy || start kube-proxy "$BIN/kube-proxy" --config "$conf/kube-proxy.yaml"
  wait_for "node $NODE_NAME" 60 "$LOGS/kubelet.log" kubectl_ns wait --for=condition=Ready "node/$NODE_NAME" --timeout=1s
  cluster_objects
  running coredns || start coredns "$BIN/coredns" -conf "$conf/Corefile"
  wait_for "the default ServiceAccount" 60 "$LOGS/kube-controller-manager.log" kubectl_ns get serviceaccount default
  wait_for coredns 30 "$LOGS/coredns.log" "${IN_NS[@]}" python3 -c "import socket; socket.create_connection(('$DNS_SERVICE_IP', 53), 1)"
  mkdir -p "$LOCAL_PATH_ROOT"
  running local-path-provisioner || start local-path-provisioner "$BIN/local-path-provisioner" --debug start \
    --kubeconfig "$conf/local-path.kubeconfig" --namespace "$LOCAL_PATH_NS" --configmap-name local-path-config \
    --config "$conf/local-path.json" --helper-pod-file "$conf/local-path-helper-pod.yaml" \
    --service-account-name local-path-provisioner --provisioner-name rancher.io/local-path
  echo "node: $NODE_NAME Ready in namespace $NETNS; kubeconfig $NODE_STATE/kubeconfig" >&2
  echo "$NODE_STATE/kubeconfig"
}

down() {
  local i name
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${COMPONENTS[i]}
    if [ "$name" = containerd ] && running containerd; then
      # Pods first: their shims outlive containerd, and their mounts hold the state directory.
      local ctr=(ctr --address "$RUN/containerd.sock" -n k8s.io)
      "${ctr[@]}" tasks ls -q 2>/dev/null | while read -r task; do "${ctr[@]}" tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
    fi
    stop "$name"
  done
  # The shims (containerd-shim-runc-v2 -namespace k8s.io -address $RUN/...) and their containers.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $RUN/containerd.sock" 2>/dev/null || true
  # Everything mounted under the state and run directories (pod volumes, rootfs, sandbox shm), deepest first.
  if [ -d "$NODE_STATE" ] || [ -d "$RUN" ]; then
    awk -v a="$NODE_STATE/" -v b="$RUN/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/self/mounts |
      sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
  fi
  [ -e "/var/run/netns/$NETNS" ] && ip netns delete "$NETNS"
  rm -rf "$NODE_STATE" "$RUN"
  echo "node: stopped and removed" >&2
}

status() {
  local name state=0
  for name in "${COMPONENTS[@]}"; do
    if running "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped" && state=1; fi
  done
  if [ -f "$NODE_STATE/kubeconfig" ] && running kube-apiserver; then
    BIN=$(bash scripts/toolchain.sh cluster node 2>/dev/null)
    kubectl_ns get nodes -o wide || state=1
    "${IN_NS[@]}" ctr --address "$RUN/containerd.sock" -n k8s.io images ls -q | grep -v '^sha256:' || true
  fi
  return "$state"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  status) status ;;
  restart-kubelet) restart_kubelet ;;
  exec) shift && exec "${IN_NS[@]}" "$@" ;;
  *) echo "usage: bash scripts/node-cluster.sh up|down|status|restart-kubelet|exec CMD" >&2 && exit 2 ;;
esac

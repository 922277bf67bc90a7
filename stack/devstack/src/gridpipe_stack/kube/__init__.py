"""A real Kubernetes control plane for tests: etcd and kube-apiserver on loopback, no kubelet, no pods."""

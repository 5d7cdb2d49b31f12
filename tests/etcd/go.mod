module etcd-medic.test/etcd

go 1.24

#!/usr/bin/env bash
# A confidential job end to end on a real AMD SEV-SNP host: everything `prism job submit --mode confidential` needs
# that no test here can give (an SNP-capable CPU, its firmware, a guest kernel). Run it as root on the SEV-SNP host.
#
#   scripts/sev-snp-job.sh --ovmf OVMF.fd --kernel vmlinuz --vcek vcek.pem [--product Milan|Genoa|Turin]
#                          [--modules /lib/modules/VERSION] [--work DIR] [--prism PATH]
#
# --ovmf    an OVMF built for SEV-SNP guests with kernel hashes (edk2's AmdSev package, e.g. Debian's OVMF.amdsev.fd
#           on trixie, or your distribution's equivalent);
# --kernel  a guest kernel (Linux 6.7 or later: configfs-tsm) with virtio-blk, virtio-net, dm-crypt, ext4 and
#           sev-guest built in, or given as modules of --modules (a /lib/modules/VERSION folder; uncompressed .ko
#           files, as busybox insmod loads them);
# --vcek    this chip's VCEK as PEM, fetched from AMD's key distribution service for its chip id and reported TCB
#           (https://kdsintf.amd.com/vcek/v1/PRODUCT/CHIP_ID?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..), which the broker
#           trusts for report signatures (`prism keys broker serve --trust-key`).
#
# What it does, as a submitter and a farmer on the same host would:
#   1. makes a LUKS2 disk (cryptsetup) with a job on it (run.sh writes out/result), keeping the key here;
#   2. makes an initrd: busybox, cryptsetup, and `prism guest unlock`, with an /init that unlocks the disk with the key
#      the broker releases (signed by the broker whose id is in the measured command line), runs run.sh, and powers off;
#   3. computes the launch measurement (`prism attest measure`) and starts the key broker with it;
#   4. starts a farmer (which must offer `confidential`: it says what it lacks otherwise) and submits the job with
#      `prism job submit --spec ... --broker ...`;
#   5. checks the signed receipt against the returned disk, opens that disk with the key and checks the job's result.
# Prints PASS and exits 0 when all of it holds; otherwise says which step failed and exits 1.
set -euo pipefail

prism=${PRISM:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/prism}
ovmf= kernel= vcek= product=Milan modules= work=
while [[ $# -gt 0 ]]; do
    case $1 in
        --ovmf) ovmf=$2; shift 2 ;;
        --kernel) kernel=$2; shift 2 ;;
        --vcek) vcek=$2; shift 2 ;;
        --product) product=$2; shift 2 ;;
        --modules) modules=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --prism) prism=$2; shift 2 ;;
        *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -f $ovmf && -f $kernel && -f $vcek ]] || { echo "give --ovmf, --kernel and --vcek (files)" >&2; exit 2; }
[[ -x $prism ]] || { echo "no prism at $prism: swift build -c release --product prism (or --prism PATH)" >&2; exit 2; }
for tool in cryptsetup mkfs.ext4 busybox nc ldd cpio gzip qemu-system-x86_64; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done
[[ $(id -u) -eq 0 ]] || { echo "run as root: the job disk is made with cryptsetup" >&2; exit 2; }

work=${work:-$(mktemp -d /tmp/prism-snp-XXXXXX)}
mkdir -p "$work"
cd "$work"
job="snp-$(date +%s)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; cryptsetup close "prism-$job" 2>/dev/null || true; }
trap cleanup EXIT

echo "1. the job's LUKS2 disk"
head -c 32 /dev/urandom > disk.key
truncate -s 64M disk.img
cryptsetup luksFormat --type luks2 --batch-mode --key-file disk.key disk.img
cryptsetup open --key-file disk.key disk.img "prism-$job"
mkdir -p jobfs
printf '#!/bin/sh\necho "ran in $(cat /proc/cpuinfo | grep -c ^processor) vCPU(s), kernel $(uname -r)" > /mnt/out/result\n' > jobfs/run.sh
mkdir -p jobfs/out
mkfs.ext4 -q -d jobfs "/dev/mapper/prism-$job"
cryptsetup close "prism-$job"

echo "2. the initrd"
rm -rf initrd && mkdir -p initrd/{bin,sbin,dev,proc,sys,mnt,run,etc,lib/modules}
cp "$(command -v busybox)" initrd/bin/busybox
for applet in sh mount umount mkdir cat sed ip sync poweroff modprobe insmod sleep echo; do ln -sf busybox "initrd/bin/$applet"; done
copy_with_libraries() {  # a binary and every shared library it loads, at the same paths
    cp "$1" "initrd/bin/$(basename "$1")"
    ldd "$1" | grep -o '/[^ ]*' | sort -u | while read -r lib; do mkdir -p "initrd$(dirname "$lib")"; cp -L "$lib" "initrd$lib"; done
}
copy_with_libraries "$(command -v cryptsetup)"
copy_with_libraries "$prism"
if [[ -n $modules ]]; then
    version=$(basename "$modules")
    for module in virtio_blk virtio_net dm_crypt ext4 sev-guest tsm_report; do
        root=${modules%/lib/modules/*}
        modprobe -d "${root:-/}" -S "$version" --show-depends "$module" 2>/dev/null | awk '$1 == "insmod" {print $2}' |
            while read -r file; do mkdir -p "initrd$(dirname "$file")"; cp "$file" "initrd$file"; echo "$file" >> initrd/etc/modules; done
    done
fi
cat > initrd/init <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
[ -f /etc/modules ] && while read -r m; do insmod "$m" 2>/dev/null; done < /etc/modules
mount -t configfs none /sys/kernel/config
ip link set lo up; ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0
job=$(sed -n 's/.*prism\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
broker_id=$(sed -n 's/.*prism\.broker-id=\([^ ]*\).*/\1/p' /proc/cmdline)
if /bin/prism guest unlock --broker http://10.0.2.100 --job "$job" --broker-id "$broker_id" | /bin/cryptsetup open --key-file=- /dev/vda job; then
    mount /dev/mapper/job /mnt && sh /mnt/run.sh > /mnt/out/log 2>&1; echo $? > /mnt/out/status
    umount /mnt; /bin/cryptsetup close job
    echo "prism-guest: job done"
else
    echo "prism-guest: no key released"
fi
sync; poweroff -f
INIT
chmod +x initrd/init
(cd initrd && find . | cpio -o -H newc --quiet | gzip -1) > initrd.img

echo "3. the measurement and the key broker"
broker_id=$("$prism" keys generate --out broker.key)
append="console=ttyS0 prism.job=$job prism.broker-id=$broker_id"
measurement=$("$prism" attest measure --ovmf "$ovmf" --kernel "$kernel" --initrd initrd.img --append "$append" --vcpus 1 --vcpu-type EPYC-v4 | tail -1)
[[ ${#measurement} -eq 96 ]] || fail "prism attest measure printed '$measurement'"
"$prism" keys broker serve --listen 127.0.0.1:0 --job "$job" --disk-key disk.key --measurement "$measurement" \
    --trust-key "$vcek" --product "$product" --key broker.key > broker.out 2> broker.log &
pids+=($!)
for _ in $(seq 50); do grep -q listening broker.out && break; sleep 0.2; done
broker=$(sed -n 's|listening on http://\([^ ]*\).*|\1|p' broker.out)
[[ -n $broker ]] || fail "the broker did not start: $(cat broker.log)"

echo "4. a farmer, and the job"
"$prism" keys generate --out farmer.key > /dev/null
"$prism" farmer serve --listen 127.0.0.1:0 --key farmer.key --data farmer --sessions 1 --claim-fps 1 > farmer.out 2> farmer.log &
pids+=($!)
for _ in $(seq 100); do grep -q listening farmer.out && break; sleep 0.2; done
farmer=$(sed -n 's|.*listening on \(http://[^ ]*\).*|\1|p' farmer.out | head -1)
[[ -n $farmer ]] || fail "the farmer did not start: $(cat farmer.log)"
cat > job.json <<SPEC
{"mode": "confidential", "rootfs": {"kind": "directory", "path": "/"}, "command": ["/init"], "limits": {"timeSeconds": 300, "memoryBytes": 2147483648, "cpus": 1},
 "guest": {"firmware": "$ovmf", "kernel": "$kernel", "initrd": "$work/initrd.img", "append": "$append", "disk": "$work/disk.img"}}
SPEC
"$prism" job submit --farmer "$farmer" --spec job.json --broker "$broker" -o out --receipt receipt.json --json > submit.json ||
    fail "prism job submit: $(tail -3 farmer.log)"

echo "5. the receipt, the returned disk and the job's result"
"$prism" job verify-receipt receipt.json out || fail "the receipt does not match the returned disk"
grep -q "released the disk key of job $job" broker.log || fail "the broker released no key: $(tail -3 broker.log)"
cryptsetup open --key-file disk.key out/disk.img "prism-$job"
mkdir -p result && mount -o ro "/dev/mapper/prism-$job" result
status=$(cat result/out/status 2>/dev/null || echo none)
cat result/out/result 2>/dev/null || true
umount result
cryptsetup close "prism-$job"
[[ $status == 0 ]] || fail "the job in the guest did not finish (status $status)"
echo "PASS: confidential job $job ran in an SEV-SNP guest on $farmer; its disk key went only to the measured guest ($measurement)"

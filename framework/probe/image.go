package probe

// Image is the default reference of the probe image: the probe binary at
// /probe (the entrypoint) and /bin/sleep linked to it. scripts/probeimage
// writes it; in kind mode the suite loads it from ArchivePath, so nothing is
// pulled (fixtures.ForProbe sets imagePullPolicy IfNotPresent).
const Image = "kic.local/probe:dev"

// ArchivePath is where scripts/probeimage writes the probe image archive
// (docker save format), relative to the repository root.
const ArchivePath = "_build/images/probe.tar"

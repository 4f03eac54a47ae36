internal import CURing
internal import CAIO
internal import CFuse3
internal import CExt2fs

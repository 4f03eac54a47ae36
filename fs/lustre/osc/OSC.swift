import PtlRPC

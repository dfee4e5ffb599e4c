// Tests reach the repository's files (fixtures, the random-CLIP writer, scratch databases)
// through TestSupport, as the benchmarks reach them through RepositoryFiles itself.
@_exported import RepositoryFiles

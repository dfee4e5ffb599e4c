import CGuardrailShims
import Testing

/// The C APIs this engine is written against (Debian 12): a distro upgrade shows up here as a
/// visible test change rather than a silent behavioural one.
@Suite struct VersionTests {
    func version(_ library: Int) -> UInt32 { gr_library_version(Int32(library)) }

    @Test func ffmpegIs5_1() {
        #expect(version(GR_LIBRARY_AVFORMAT) >> 16 == 59)
        #expect(version(GR_LIBRARY_AVCODEC) >> 16 == 59)
        #expect(version(GR_LIBRARY_AVUTIL) >> 16 == 57)
        #expect(version(GR_LIBRARY_SWSCALE) >> 16 == 6)
    }

    @Test func imageLibraries() {
        #expect(version(GR_LIBRARY_PNG) / 100 == 106)
        #expect(version(GR_LIBRARY_WEBP_DEMUX) >> 16 == 1)
        #expect(version(GR_LIBRARY_TURBOJPEG) / 1000 == 2001)
    }
}

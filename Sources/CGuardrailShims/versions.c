#include "CGuardrailShims.h"

#include <jconfig.h>
#include <libswscale/swscale.h>
#include <png.h>
#include <webp/demux.h>

unsigned gr_library_version(int library) {
    switch (library) {
    case GR_LIBRARY_AVFORMAT: return avformat_version();
    case GR_LIBRARY_AVCODEC: return avcodec_version();
    case GR_LIBRARY_AVUTIL: return avutil_version();
    case GR_LIBRARY_SWSCALE: return swscale_version();
    case GR_LIBRARY_PNG: return (unsigned) png_access_version_number();
    case GR_LIBRARY_WEBP_DEMUX: return (unsigned) WebPGetDemuxVersion();
    case GR_LIBRARY_TURBOJPEG: return LIBJPEG_TURBO_VERSION_NUMBER;
    default: return 0;
    }
}

// libzip, imported by Sources/LayerpackCore/Archive only.
#include <zip.h>

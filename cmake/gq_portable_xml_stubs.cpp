// GQ_PORTABLE only (cmake/GqPortable.cmake). The static libarchive's write side, which the dataset
// tests use to write malformed archives (pax + xz/gzip), drags in every write format through one
// table, xar's included, and xar calls libxml2. Debian's static libxml2 needs ICU (about 30 MB of
// data per binary), and nothing here writes xar archives, so these are the libxml2 functions the
// xar writer names, each failing: xar_close then reports an error, as on a libxml2 failure.
extern "C" {
void* xmlBufferCreate() { return nullptr; }
void xmlBufferFree(void*) {}
void* xmlNewTextWriterMemory(void*, int) { return nullptr; }
void xmlFreeTextWriter(void*) {}
int xmlTextWriterStartDocument(void*, const char*, const char*, const char*) { return -1; }
int xmlTextWriterEndDocument(void*) { return -1; }
int xmlTextWriterSetIndent(void*, int) { return -1; }
int xmlTextWriterStartElement(void*, const unsigned char*) { return -1; }
int xmlTextWriterEndElement(void*) { return -1; }
int xmlTextWriterWriteAttribute(void*, const unsigned char*, const unsigned char*) { return -1; }
int xmlTextWriterWriteFormatAttribute(void*, const unsigned char*, const char*, ...) { return -1; }
int xmlTextWriterWriteString(void*, const unsigned char*) { return -1; }
int xmlTextWriterWriteBase64(void*, const char*, int, int) { return -1; }
int UTF8Toisolat1(unsigned char*, int*, const unsigned char*, int*) { return -2; }
}

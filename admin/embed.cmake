# Write the file IN as a C array NAME into the header OUT (cmake -DIN=... -DOUT=... -DNAME=... -P).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from admin/static/style.css by admin/embed.cmake: do not edit. */\n"
                  "static const unsigned char ${NAME}[] = {\n${bytes}};\n")

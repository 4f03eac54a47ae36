import OSD

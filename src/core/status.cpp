// SPDX-License-Identifier: GPL-2.0
// dmsetup status / table / IMA text. TABLE is the normalized constructor line: it reloads to
// the same target. Numbers are printed in the units the table line uses.
#include "text_buffer.h"

using namespace remap;

namespace {

// Features in canonical order; only those the admin set explicitly, so a line with no
// features stays a five-word line.
void emit_features(TextBuffer &out, const rc_table &t)
{
	unsigned words = 0;
	if (t.explicit_features & RC_FEAT_BLOCK_SIZE)
		words += 2;
	if (!t.auto_remap)
		words += 1;
	if (t.explicit_features & RC_FEAT_READ_RETRIES)
		words += 2;
	if (t.explicit_features & RC_FEAT_SPARE_LOW_WATER)
		words += 2;
	if (t.explicit_features & RC_FEAT_ALLOW_LARGER_SPARE_SECTORS)
		words += 1;
	if (!words)
		return;

	out.emit(" %u", words);
	if (t.explicit_features & RC_FEAT_BLOCK_SIZE)
		out.emit(" block_size %u", t.block_size);
	if (!t.auto_remap)
		out.emit(" no_auto_remap");
	if (t.explicit_features & RC_FEAT_READ_RETRIES)
		out.emit(" read_retries %u", t.read_retries);
	if (t.explicit_features & RC_FEAT_SPARE_LOW_WATER)
		out.emit(" spare_low_water %llu", t.spare_low_water);
	if (t.explicit_features & RC_FEAT_ALLOW_LARGER_SPARE_SECTORS)
		out.emit(" allow_larger_spare_sectors");
}

} // namespace

extern "C" void rc_status_table(const struct rc_table *t, const char *data_name,
				const char *spare_name, char *buf, unsigned int maxlen,
				unsigned int *used)
{
	TextBuffer out(buf, maxlen, used);
	out.emit("%s %llu %s %llu %llu", data_name, t->data_offset, spare_name, t->spare_offset,
		 t->spare_len);
	emit_features(out, *t);
}

extern "C" void rc_status_ima(const struct rc_table *t, const char *data_name,
			      const char *spare_name, char *buf, unsigned int maxlen,
			      unsigned int *used)
{
	TextBuffer out(buf, maxlen, used);
	out.emit(",data_device=%s,data_offset=%llu,spare_device=%s,spare_offset=%llu,spare_len=%llu"
		 ",block_size=%u,auto_remap=%c,read_retries=%u,spare_low_water=%llu"
		 ",allow_larger_spare_sectors=%c;",
		 data_name, t->data_offset, spare_name, t->spare_offset, t->spare_len,
		 t->block_size, t->auto_remap ? 'y' : 'n', t->read_retries, t->spare_low_water,
		 t->explicit_features & RC_FEAT_ALLOW_LARGER_SPARE_SECTORS ? 'y' : 'n');
}

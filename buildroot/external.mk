include $(sort $(wildcard $(BR2_EXTERNAL_STREAMFORGE_PATH)/package/*/*.mk))
